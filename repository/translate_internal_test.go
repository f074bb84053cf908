package repository

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/testdb"
)

// TestTranslate_TextPostgreSQLCannotStoreIsInvalid sends a NUL byte and
// invalid UTF-8 to a real PostgreSQL, bypassing the unit of work's checks:
// the server's 22021 (character_not_in_repertoire) must translate to
// ErrInvalid, not to an error about the row named.
func TestTranslate_TextPostgreSQLCannotStoreIsInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	for _, text := range []string{"a\x00b", "caf\xe9"} {
		_, err := pool.Exec(ctx, "INSERT INTO tb_user (username) VALUES ($1)", text)
		require.Error(t, err, "%q", text)
		got := translate(err, "author", "someone")
		require.ErrorIs(t, got, ErrInvalid, "%q: %v", text, err)
		require.NotContains(t, got.Error(), "someone", "%q", text)
	}
}
