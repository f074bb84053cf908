package synccli

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// parseDSN parses a connection URL or key/value string into a pool
// configuration. Every error is a usage error whose text holds no piece of
// the password: a URL whose user information has more than one '@' is
// refused (pgx would take what follows the first '@' as the host and print
// it in every connection error), and pgx's own parse errors are rewritten
// with the string redacted by Redact (pgx's redaction stops at an escaped
// space of a key/value password, printing its tail).
func parseDSN(dsn string) (*pgxpool.Config, error) {
	if n := strings.Count(authority(dsn), "@"); n > 1 {
		return nil, Usagef("database URL %s: its user information holds %d '@'s; write an '@' of the user name or password as %%40", Redact(dsn), n)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) {
			redacted := *pe
			redacted.ConnString = Redact(pe.ConnString)
			err = &redacted
		}
		return nil, Usagef("database URL: %s", Redact(err.Error()))
	}
	return cfg, nil
}

// authority returns the part of a postgres:// or postgresql:// URL between
// the scheme and the first '/', '?' or '#' (user information and hosts), or
// "" when dsn is not such a URL.
func authority(dsn string) string {
	rest, ok := strings.CutPrefix(dsn, "postgres://")
	if !ok {
		if rest, ok = strings.CutPrefix(dsn, "postgresql://"); !ok {
			return ""
		}
	}
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		return rest[:end]
	}
	return rest
}
