package synccli

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
)

// secretDSNs are connection strings whose password is hard to redact, with
// the password's pieces that must never be printed.
var secretDSNs = []struct {
	dsn    string
	pieces []string
}{
	{"postgres://app:S3@cretPW@127.0.0.1:1/prod", []string{"S3", "cretPW"}},
	{"postgres://app:Zz@Yy@Xx@127.0.0.1:1/prod?sslmode=disable", []string{"Zz", "Yy", "Xx"}},
	{"postgresql://app@corp:Qq@Ww@127.0.0.1:1/prod", []string{"Qq", "Ww"}},
	{`host=127.0.0.1 port=1 user=app password='Aa\ Bb Cc' dbname=prod`, []string{"Aa", "Bb", "Cc"}},
	{`host=127.0.0.1 port=1 user=app password=Dd\ Ee dbname=prod`, []string{"Dd", "Ee"}},
	{`host=127.0.0.1 port=1 user=app password = Ff\ Gg\ Hh dbname=prod`, []string{"Ff", "Gg", "Hh"}},
	// pgx cannot parse these (bad port), and prints the string in its error.
	{`host=127.0.0.1 port=abc user=app password=Ii\ Jj dbname=prod`, []string{"Ii", "Jj"}},
	{`host=127.0.0.1 port=abc user=app password='Kk\ Ll Mm' dbname=prod`, []string{"Kk", "Ll", "Mm"}},
	{"postgres://app:Nn%40Oo@127.0.0.1:abc/prod", []string{"Nn", "Oo"}},
}

// TestExecute_ConnectionErrorsNeverPrintAPasswordPiece runs commands that
// connect on databases that refuse, with passwords holding unencoded @ and
// escaped spaces: no piece of the password appears in what is printed.
func TestExecute_ConnectionErrorsNeverPrintAPasswordPiece(t *testing.T) {
	t.Parallel()
	for _, tc := range secretDSNs {
		for _, args := range [][]string{{"stats"}, {"migrate", "status"}, {"sync", "--entity", "widget", "--all"}} {
			code, out, errOut := execute(context.Background(), t, nil, append([]string{"--database-url", tc.dsn}, args...)...)
			t.Logf("%v %s: %d %q", args, tc.dsn, code, errOut)
			assert.NotEqual(t, ExitOK, code)
			for _, piece := range tc.pieces {
				assert.NotContains(t, out+errOut, piece, "%v on %s", args, tc.dsn)
			}
		}
	}
}

func TestRedact_PasswordsWithAtSignsAndEscapedSpaces(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"dial postgres://app:S3@cretPW@host/db failed":            "dial postgres://app:xxxxx@host/db failed",
		"postgres://app:a@b@c@host:5432/db?sslmode=disable":       "postgres://app:xxxxx@host:5432/db?sslmode=disable",
		"postgres://app@corp:a@b@host/db":                         "postgres://app@corp:xxxxx@host/db",
		"cannot parse `postgres://app:a@b@host/db`: bad":          "cannot parse `postgres://app:xxxxx@host/db`: bad",
		`host=db password='a\ b c' dbname=prod`:                   "host=db password=xxxxx dbname=prod",
		`host=db password=x\ y dbname=prod`:                       "host=db password=xxxxx dbname=prod",
		`host=db PASSWORD = x\ y\ z`:                              "host=db PASSWORD = xxxxx",
		"cannot parse `host=db password=x\\ y`: failed":           "cannot parse `host=db password=xxxxx`: failed",
		"postgres://app@db:5432/prod (no password)":               "postgres://app@db:5432/prod (no password)",
		`level=ERROR error="dial postgres://u:a@b@127.0.0.1:1/x"`: `level=ERROR error="dial postgres://u:xxxxx@127.0.0.1:1/x"`,
	} {
		assert.Equal(t, want, Redact(in), in)
	}
}
