// Package triggers finds the legacy triggers that keep tv_ tables in step
// with tb_ tables, and writes the goose migration that drops them once the
// application syncs explicitly.
//
// Moving off triggers is the seed pattern's "Migration Steps": add explicit
// sync calls to every mutation, test them, then drop the triggers. [Find]
// lists the triggers to drop, capturing the full definitions of the triggers
// and their functions; [EmitMigration] writes a migration whose Up drops them
// and whose Down recreates them exactly; [NewProvider] applies such a folder
// of migrations with goose, tracked in its own version table so it never
// clashes with tvsync's embedded migrations.
package triggers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// VersionTable is the goose version table that [NewProvider] records the
// trigger migrations in, separate from the embedded migrations' table.
const VersionTable = "tvsync_trigger_migrations"

// ErrNothingToDrop is returned by [EmitMigration] for an empty trigger list.
var ErrNothingToDrop = errors.New("triggers: nothing to drop: no triggers on tb_ tables write tv_ tables")

// Querier runs a query; *pgx.Conn, *pgxpool.Pool and pgx.Tx satisfy it.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Trigger is a trigger on a tb_ table whose function writes a tv_ table.
type Trigger struct {
	// Name is the trigger's name, Schema and Table the table it is on.
	Name, Schema, Table string
	// Function is the trigger function's schema-qualified signature, quoted
	// as SQL needs it, for example public.sync_post_to_tv().
	Function string
	// Timing is BEFORE, AFTER or INSTEAD OF; Events the events joined by
	// " OR " (INSERT OR UPDATE); Level ROW or STATEMENT.
	Timing, Events, Level string
	// Enabled is pg_trigger.tgenabled: O (enabled), D (disabled), R
	// (replica only) or A (always).
	Enabled string
	// WritesTables are the tv_ tables the function's source writes (INSERT
	// INTO, UPDATE, DELETE FROM, MERGE INTO), sorted, schema-qualified when
	// the source qualifies them.
	WritesTables []string
	// FunctionTriggers are every trigger in the database that runs Function
	// (this one included), as "schema.table.trigger", sorted. [EmitMigration]
	// drops the function only when all of them are dropped too.
	FunctionTriggers []string
	// TriggerDef is pg_get_triggerdef: the CREATE TRIGGER statement.
	TriggerDef string
	// FunctionDef is pg_get_functiondef: the CREATE OR REPLACE FUNCTION
	// statement.
	FunctionDef string
}

// QualifiedTable returns the trigger's table as quoted schema.table.
func (t Trigger) QualifiedTable() string {
	return pgx.Identifier{t.Schema, t.Table}.Sanitize()
}

// key identifies the trigger as FunctionTriggers names it.
func (t Trigger) key() string { return t.Schema + "." + t.Table + "." + t.Name }

// findSQL lists every user trigger on a tb_ table of the search path with
// its function's source and the definitions needed to recreate both.
// Partition clones (tgparentid <> 0) go with their parent's trigger.
const findSQL = `
SELECT t.tgname::text,
       n.nspname::text,
       c.relname::text,
       format('%I.%I(%s)', pn.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       t.tgtype::int,
       t.tgenabled::text,
       coalesce(p.prosrc, ''),
       pg_get_triggerdef(t.oid),
       pg_get_functiondef(p.oid),
       ARRAY(SELECT un.nspname || '.' || uc.relname || '.' || ut.tgname
             FROM pg_trigger ut
             JOIN pg_class uc ON uc.oid = ut.tgrelid
             JOIN pg_namespace un ON un.oid = uc.relnamespace
             WHERE ut.tgfoid = t.tgfoid AND NOT ut.tgisinternal AND ut.tgparentid = 0
             ORDER BY 1)
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_namespace pn ON pn.oid = p.pronamespace
WHERE NOT t.tgisinternal
  AND t.tgparentid = 0
  AND c.relkind IN ('r', 'p', 'f', 'v')
  AND c.relname LIKE 'tb\_%'
  AND n.nspname = ANY (current_schemas(false))
ORDER BY n.nspname, c.relname, t.tgname`

// Find lists the triggers on tb_ tables (tables whose name starts with tb_
// in the schemas of the connection's search_path) whose trigger function
// writes a tv_ table, ordered by schema, table and trigger name. Internal
// triggers (foreign keys) are never listed, nor triggers whose function
// only reads tv_ tables or only mentions them in comments. A function
// written in a language other than SQL or PL/pgSQL is judged by its source
// text too, so C functions (no source) are never listed. Find only reads.
func Find(ctx context.Context, conn Querier) ([]Trigger, error) {
	rows, err := conn.Query(ctx, findSQL)
	if err != nil {
		return nil, fmt.Errorf("triggers: list triggers on tb_ tables: %w", err)
	}
	defer rows.Close()
	var found []Trigger
	for rows.Next() {
		var (
			t      Trigger
			tgtype int
			src    string
		)
		if err := rows.Scan(&t.Name, &t.Schema, &t.Table, &t.Function, &tgtype, &t.Enabled, &src,
			&t.TriggerDef, &t.FunctionDef, &t.FunctionTriggers); err != nil {
			return nil, fmt.Errorf("triggers: read trigger row: %w", err)
		}
		t.WritesTables = WrittenTVTables(src)
		if len(t.WritesTables) == 0 {
			continue
		}
		t.Timing, t.Events, t.Level = describeType(tgtype)
		found = append(found, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("triggers: list triggers on tb_ tables: %w", err)
	}
	return found, nil
}

// Bits of pg_trigger.tgtype (src/include/catalog/pg_trigger.h).
const (
	typeRow      = 1 << 0
	typeBefore   = 1 << 1
	typeInsert   = 1 << 2
	typeDelete   = 1 << 3
	typeUpdate   = 1 << 4
	typeTruncate = 1 << 5
	typeInstead  = 1 << 6
)

// describeType decodes pg_trigger.tgtype.
func describeType(tgtype int) (timing, events, level string) {
	switch {
	case tgtype&typeInstead != 0:
		timing = "INSTEAD OF"
	case tgtype&typeBefore != 0:
		timing = "BEFORE"
	default:
		timing = "AFTER"
	}
	var ev []string
	for _, e := range []struct {
		bit  int
		name string
	}{{typeInsert, "INSERT"}, {typeUpdate, "UPDATE"}, {typeDelete, "DELETE"}, {typeTruncate, "TRUNCATE"}} {
		if tgtype&e.bit != 0 {
			ev = append(ev, e.name)
		}
	}
	level = "STATEMENT"
	if tgtype&typeRow != 0 {
		level = "ROW"
	}
	return timing, strings.Join(ev, " OR "), level
}

// ident matches one SQL identifier, quoted or not.
const ident = `(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)`

// writeRE matches a statement writing a table: INSERT INTO, UPDATE, DELETE
// FROM or MERGE INTO, optionally ONLY, then an optionally schema-qualified
// name. Group 1 is the schema, group 2 the table.
var writeRE = regexp.MustCompile(`(?is)\b(?:insert\s+into|update|delete\s+from|merge\s+into)\s+(?:only\s+)?(?:(` + ident + `)\s*\.\s*)?(` + ident + `)`)

// commentRE matches SQL comments: -- to end of line, and /* */ (not nested).
var commentRE = regexp.MustCompile(`(?s)--[^\n]*|/\*.*?\*/`)

// WrittenTVTables returns the tv_ tables that the function source src
// writes with INSERT INTO, UPDATE, DELETE FROM or MERGE INTO, matched
// case-insensitively, schema-qualified or not, with comments ignored.
// Unquoted names are folded to lower case as PostgreSQL does; a qualified
// table is returned as schema.table. The result is sorted and free of
// duplicates; nil when src writes no tv_ table. Statements built as
// strings for EXECUTE are matched too, since their text is in src.
func WrittenTVTables(src string) []string {
	src = commentRE.ReplaceAllString(src, " ")
	var out []string
	for _, m := range writeRE.FindAllStringSubmatch(src, -1) {
		table := unquote(m[2])
		if !strings.HasPrefix(table, "tv_") {
			continue
		}
		if m[1] != "" {
			table = unquote(m[1]) + "." + table
		}
		if !slices.Contains(out, table) {
			out = append(out, table)
		}
	}
	sort.Strings(out)
	return out
}

// unquote folds an unquoted identifier to lower case and strips the quotes
// of a quoted one.
func unquote(id string) string {
	if strings.HasPrefix(id, `"`) {
		return strings.ReplaceAll(id[1:len(id)-1], `""`, `"`)
	}
	return strings.ToLower(id)
}

// MigrationSuffix ends the name of every file [EmitMigration] writes.
const MigrationSuffix = "_drop_tv_sync_triggers.sql"

// EmitMigration writes a goose SQL migration into dir (created if missing)
// named VERSION_drop_tv_sync_triggers.sql, VERSION being now in UTC as
// YYYYMMDDhhmmss, and returns its path. Its Up drops the triggers (DROP
// TRIGGER IF EXISTS … ON …), then each distinct function whose every user
// (Trigger.FunctionTriggers) is among the triggers dropped; its Down recreates
// those functions, then the triggers, from the captured definitions, and
// restores a trigger's disabled or replica state. Triggers come from
// [Find]; a subset may be passed. An empty list returns [ErrNothingToDrop].
// EmitMigration never overwrites a file: it fails when the path exists or
// another migration in dir has the same version. It does not touch the
// database.
func EmitMigration(dir string, triggers []Trigger, now time.Time) (string, error) {
	if len(triggers) == 0 {
		return "", ErrNothingToDrop
	}
	body, err := migrationSQL(triggers)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("triggers: create migration folder %q: %w", dir, err)
	}
	version := now.UTC().Format("20060102150405")
	same, err := filepath.Glob(filepath.Join(dir, version+"_*"))
	if err != nil {
		return "", fmt.Errorf("triggers: list migrations in %q: %w", dir, err)
	}
	path := filepath.Join(dir, version+MigrationSuffix)
	if len(same) > 0 {
		return "", fmt.Errorf("triggers: migration version %s already used by %q: %w", version, same[0], fs.ErrExist)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", fmt.Errorf("triggers: write migration: %w", err)
	}
	if _, err := f.WriteString(body); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return "", fmt.Errorf("triggers: write migration %q: %w", path, err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("triggers: write migration %q: %w", path, err)
	}
	return path, nil
}

// migrationSQL renders the migration for triggers.
func migrationSQL(triggers []Trigger) (string, error) {
	dropped := map[string]bool{}
	for _, t := range triggers {
		if t.Name == "" || t.Table == "" || t.Schema == "" || t.TriggerDef == "" || t.Function == "" || t.FunctionDef == "" {
			return "", fmt.Errorf("triggers: trigger %q on %q lacks its definitions: pass triggers returned by Find", t.Name, t.Table)
		}
		dropped[t.key()] = true
	}
	// Functions in first-use order, each once; kept when a trigger not
	// being dropped still runs it.
	var funcs []Trigger
	var kept []string
	seen := map[string]bool{}
	for _, t := range triggers {
		if seen[t.Function] {
			continue
		}
		seen[t.Function] = true
		users := t.FunctionTriggers
		if len(users) == 0 {
			users = []string{t.key()}
		}
		var others []string
		for _, u := range users {
			if !dropped[u] {
				others = append(others, u)
			}
		}
		if len(others) > 0 {
			kept = append(kept, fmt.Sprintf("%s (still used by %s)", t.Function, strings.Join(others, ", ")))
			continue
		}
		funcs = append(funcs, t)
	}

	var b strings.Builder
	b.WriteString("-- Drops the triggers that kept tv_ tables in step with tb_ tables, now that\n")
	b.WriteString("-- the application syncs explicitly (written by tvsync triggers --emit-migration).\n")
	b.WriteString("-- Down recreates the functions and triggers exactly as they were.\n")
	for _, k := range kept {
		fmt.Fprintf(&b, "-- Function kept: %s.\n", commentText(k))
	}
	b.WriteString("\n-- +goose Up\n")
	for _, t := range triggers {
		fmt.Fprintf(&b, "-- %s %s %s ON %s writes %s\n", commentText(t.Name), t.Timing, t.Events, commentText(t.Table),
			commentText(strings.Join(t.WritesTables, ", ")))
		writeStatement(&b, fmt.Sprintf("DROP TRIGGER IF EXISTS %s ON %s", pgx.Identifier{t.Name}.Sanitize(), t.QualifiedTable()), false)
	}
	for _, f := range funcs {
		writeStatement(&b, "DROP FUNCTION IF EXISTS "+f.Function, false)
	}
	b.WriteString("\n-- +goose Down\n")
	for _, f := range funcs {
		writeStatement(&b, strings.TrimRight(f.FunctionDef, "\n; "), true)
	}
	for _, t := range triggers {
		writeStatement(&b, strings.TrimRight(t.TriggerDef, "\n; "), false)
		if alter := enableClause(t.Enabled); alter != "" {
			writeStatement(&b, fmt.Sprintf("ALTER TABLE %s %s TRIGGER %s", t.QualifiedTable(), alter, pgx.Identifier{t.Name}.Sanitize()), false)
		}
	}
	return b.String(), nil
}

// Catalog text (names, function sources, definitions) is chosen by whoever
// could create a function or a trigger, and the migration is run by goose,
// which reads its file line by line: a line break in a name would end a
// "--" comment (PostgreSQL also ends one at a carriage return) and turn the
// rest into SQL; a line that starts with "--" and holds "+goose" is taken
// for an annotation (ending a statement early, switching on ${VAR}
// substitution); goose drops a carriage return before a line break and
// ends a plain statement at the first line whose last word before a "--"
// ends in a semicolon. Catalog text therefore only enters the file through
// commentText and writeStatement.

// commentText renders catalog text for a "--" comment line: as is when it
// is printable and cannot pass for a goose annotation, Go-quoted otherwise
// (with "+" escaped), so that it holds no line break and no "+goose".
func commentText(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) && !strings.Contains(s, "+goose") {
		return s
	}
	return strings.ReplaceAll(strconv.QuoteToASCII(s), "+", `\x2b`)
}

// writeStatement appends the statement sql, built from catalog text, so that
// goose reads back exactly sql and nothing else. block marks a statement
// holding semicolons and lines of its own (a function definition), written
// between StatementBegin and StatementEnd. A statement that goose could not
// read back as is (see above) is shielded: executed from a one-line DO
// block in which its text is an escaped string literal.
func writeStatement(b *strings.Builder, sql string, block bool) {
	shield := strings.ContainsRune(sql, '\r') || strings.Contains(sql, "+goose") ||
		(!block && (strings.ContainsRune(sql, '\n') || strings.Contains(sql, "--")))
	if shield {
		sql, block = shielded(sql), true
	}
	if block {
		b.WriteString("-- +goose StatementBegin\n")
	}
	b.WriteString(sql)
	b.WriteString(";\n")
	if block {
		b.WriteString("-- +goose StatementEnd\n")
	}
}

// shielded returns a DO statement, on one line, that executes sql: sql is
// an escape string literal (E'...') in which every control character, line
// breaks included, every backslash, quote and "+" is escaped, and the DO
// body is dollar-quoted with a tag that does not occur in it.
func shielded(sql string) string {
	var lit strings.Builder
	lit.WriteString("E'")
	for i := 0; i < len(sql); {
		r, size := utf8.DecodeRuneInString(sql[i:])
		switch {
		case r == utf8.RuneError && size == 1: // not UTF-8 (a SQL_ASCII database): keep the byte
			fmt.Fprintf(&lit, `\x%02x`, sql[i])
		case r == '\\' || r == '\'' || r == '+' || r < 0x20 || r == 0x7f:
			fmt.Fprintf(&lit, `\x%02x`, r)
		case !unicode.IsPrint(r):
			fmt.Fprintf(&lit, `\U%08x`, r)
		default:
			lit.WriteRune(r)
		}
		i += size
	}
	lit.WriteString("'")
	body := "BEGIN EXECUTE " + lit.String() + "; END"
	tag := "$tvsync$"
	for n := 1; strings.Contains(body, tag); n++ {
		tag = fmt.Sprintf("$tvsync%d$", n)
	}
	return "DO " + tag + body + tag
}

// enableClause returns the ALTER TABLE clause restoring a tgenabled state
// other than the default (enabled).
func enableClause(tgenabled string) string {
	switch tgenabled {
	case "D":
		return "DISABLE"
	case "R":
		return "ENABLE REPLICA"
	case "A":
		return "ENABLE ALWAYS"
	}
	return ""
}

// NewProvider returns a goose provider for the SQL migrations in dir (such
// as those [EmitMigration] writes), recording them in [VersionTable] rather
// than the embedded migrations' table, allowing out-of-order versions, and
// holding a session-level advisory lock while it migrates. Close it when
// done; that closes db too only if the caller does.
func NewProvider(db *sql.DB, dir string, logger *slog.Logger) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID))
	if err != nil {
		return nil, fmt.Errorf("triggers: session locker: %w", err)
	}
	opts := []goose.ProviderOption{
		goose.WithTableName(VersionTable),
		goose.WithAllowOutofOrder(true),
		goose.WithSessionLocker(locker),
	}
	if logger != nil {
		opts = append(opts, goose.WithSlog(logger))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, os.DirFS(dir), opts...)
	if err != nil {
		return nil, fmt.Errorf("triggers: load migrations from %q: %w", dir, err)
	}
	return p, nil
}

// lockID is the advisory lock NewProvider's migrations hold: goose's default
// id plus one, so they do not wait for, nor block, the embedded migrations.
const lockID = lock.DefaultLockID + 1

// GooseCommand returns the goose command line that applies the migrations
// in dir on $DATABASE_URL with the same version table as [NewProvider].
func GooseCommand(dir string) string {
	return fmt.Sprintf(`goose -dir %s -table %s postgres "$DATABASE_URL" up`, shellQuote(dir), VersionTable)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,@", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
