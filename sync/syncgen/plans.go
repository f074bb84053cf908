package syncgen

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Plans name hand-written document queries (plan files) that tvsync gen
// wraps in the mechanical refresh statements, so that a hand-tuned plan is
// only the query that builds the documents: the upsert, the counts and the
// @ids restriction of a range are the generator's, never repeated by hand.
//
// A plan file holds ONE query (SELECT, WITH, VALUES or TABLE; a trailing
// semicolon is allowed) returning the columns (id, data) — the same
// documents as the entity's Source view, however it builds them. Its leading
// "--" lines become the generated statement's comment (and so sqlc's Go doc
// comment). Its parameters are sqlc's @name form only:
//
//   - Wide: the documents of the ids of @ids (an array of the key type), and
//     of no other id; it names @ids and no other parameter. Generated as
//     XWideRefresh, `WITH [its CTEs,] src AS (<query>), upserted AS (INSERT … ON
//     CONFLICT … WHERE … IS DISTINCT FROM …) SELECT found, upserted,
//     finished_at`, registered as Entity.RefreshWide.
//   - Range: the documents of the keyset range (@after, @upto] of a
//     full-sync chunk, written with the MinID rule `x >= @after AND (x >
//     @after OR x = <smallest key>) AND x <= @upto`; it names @after and
//     @upto and no other parameter. Generated as XRangeRefresh in place of
//     the one read from the view: `WITH [its CTEs,] range_src AS MATERIALIZED (<query>),
//     src AS (… WHERE r.id IN (SELECT unnest(@ids)))`, then the upsert, so
//     a range plan always writes only the chunk's locked @ids.
//
// A query may carry its own WITH clause: since sqlc cannot resolve a WITH
// nested in a CTE, its CTEs, as written, open the generated statement's
// WITH clause (so they must not be named src, range_src or upserted, and
// must only read), and its main query becomes src (range_src). Paths are
// relative to the declaration file's directory, in a folder sqlc does not
// read (sqlc reads the .sql files of its queries folder, not its
// sub-folders: <sql.out>/plans/ does). A plan file's change makes the
// generated file stale (gen --check).
type Plans struct {
	// Wide is the plan file of XWideRefresh (Entity.RefreshWide).
	Wide string `yaml:"wide"`
	// Range is the plan file of XRangeRefresh (Entity.RefreshRange).
	Range string `yaml:"range"`

	set map[string]bool // the keys present in the file
}

// planKind is the spec of one kind of plan file.
type planKind struct {
	field    string   // "plans.wide"
	stmt     string   // statement suffix: "WideRefresh"
	params   []string // the parameters it must name, and the only ones
	describe string   // what its query returns
}

var (
	widePlan  = planKind{"plans.wide", "WideRefresh", []string{"ids"}, "the documents of the ids of @ids"}
	rangePlan = planKind{"plans.range", "RangeRefresh", []string{"after", "upto"}, "the documents of the keyset range (@after, @upto]; tvsync gen adds the @ids restriction"}
)

// plan is a parsed plan file.
type plan struct {
	comments  []string // its leading "--" lines
	recursive bool     // its WITH clause is WITH RECURSIVE
	ctes      string   // its WITH clause's CTEs as written ("a AS (…),\nb AS (…)"), or ""
	query     string   // its main query, indented for a CTE, without the semicolon
}

// reservedCTEs are the names of the CTEs the generated statements add.
var reservedCTEs = []string{"src", "range_src", "upserted"}

// validatePlans checks the plan paths of entity e (not the files: see
// readPlan); fail reports a problem.
func (c *Config) validatePlans(e *Entity, fail func(line int, format string, args ...any)) {
	for _, p := range []struct {
		kind     planKind
		file     string
		override string
	}{{widePlan, e.Plans.Wide, "overrides.refresh_wide"}, {rangePlan, e.Plans.Range, "overrides.refresh_range"}} {
		key := strings.TrimPrefix(p.kind.field, "plans.")
		if !e.Plans.set[key] {
			continue
		}
		if (key == "wide" && e.Overrides.set["refresh_wide"]) || (key == "range" && e.Overrides.set["refresh_range"]) {
			fail(e.line, "entity %q: %s and %s are exclusive: a plan file is wrapped in the generated statement, an override replaces it", e.Name, p.kind.field, p.override)
			continue
		}
		clean := path.Clean(filepath.ToSlash(p.file))
		switch {
		case p.file == "":
			fail(e.line, "entity %q: %s: want the path of a plan file (a hand-written query), relative to the declaration file", e.Name, p.kind.field)
		case path.IsAbs(clean) || filepath.IsAbs(p.file):
			fail(e.line, "entity %q: %s %q: want a path relative to the declaration file", e.Name, p.kind.field, p.file)
		case !strings.HasSuffix(clean, ".sql") || strings.HasSuffix(clean, ".gen.sql"):
			fail(e.line, "entity %q: %s %q: want a .sql file (not a .gen.sql one)", e.Name, p.kind.field, p.file)
		case path.Dir(clean) == path.Clean(filepath.ToSlash(c.SQL.Out)):
			fail(e.line, "entity %q: %s %q: sqlc compiles every .sql file of %s; put plan files in a folder it does not read, such as %s/plans", e.Name, p.kind.field, p.file, c.SQL.Out, path.Clean(filepath.ToSlash(c.SQL.Out)))
		}
	}
}

// readPlan reads and checks the plan file of entity e for kind: it must be
// one query naming exactly kind's parameters.
func (c *Config) readPlan(e *Entity, kind planKind, file string) (plan, error) {
	where := fmt.Sprintf("%s:%d: entity %q: %s %s", c.File, e.line, e.Name, kind.field, file)
	src, err := os.ReadFile(filepath.Join(filepath.Dir(c.File), filepath.FromSlash(file)))
	if err != nil {
		return plan{}, fmt.Errorf("%s: %w", where, err)
	}
	p, err := parsePlan(string(src), kind)
	if err != nil {
		return plan{}, fmt.Errorf("%s: %w", where, err)
	}
	return p, nil
}

// parsePlan splits a plan file into its leading comment lines and its one
// query, and checks the query's parameters against kind.
func parsePlan(src string, kind planKind) (plan, error) {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	lines := strings.Split(src, "\n")
	var p plan
	first := 0
	for ; first < len(lines); first++ {
		t := strings.TrimSpace(lines[first])
		if t == "" {
			continue
		}
		if !strings.HasPrefix(t, "--") {
			break
		}
		if strings.HasPrefix(t, "-- name:") {
			return plan{}, errors.New("a plan file is a bare query: tvsync gen writes the -- name: line and the upsert around it")
		}
		p.comments = append(p.comments, t)
	}
	body := strings.Join(lines[first:], "\n")
	lex, err := lexPlan(body)
	if err != nil {
		return plan{}, err
	}
	if lex.nameLine {
		return plan{}, errors.New("a plan file is a bare query: tvsync gen writes the -- name: line and the upsert around it")
	}
	if lex.end >= 0 {
		if rest := lex.afterEnd; rest != "" {
			return plan{}, fmt.Errorf("more than one statement (%q follows the first semicolon): want one query", abbreviate(rest))
		}
		body = body[:lex.end]
	}
	if len(lex.toks) == 0 {
		return plan{}, errors.New("no query: want one query returning (id, data)")
	}
	if first := lex.toks[0].text; !isQueryStart(first) {
		return plan{}, fmt.Errorf("starts with %s: want a query (SELECT, WITH, VALUES or TABLE) returning (id, data), %s; tvsync gen writes the upsert", strings.ToUpper(first), kind.describe)
	}
	if lex.positional != "" {
		return plan{}, fmt.Errorf("positional parameter %s: name the parameters (%s)", lex.positional, atNames(kind.params))
	}
	if lex.sqlcMacro {
		return plan{}, fmt.Errorf("sqlc.arg and its kin are not supported in a plan file: name the parameters as %s", atNames(kind.params))
	}
	for _, name := range lex.params {
		if !slices.Contains(kind.params, name) {
			return plan{}, fmt.Errorf("parameter @%s: a %s query names only %s (it returns %s)", name, strings.TrimPrefix(kind.field, "plans."), atNames(kind.params), kind.describe)
		}
	}
	for _, name := range kind.params {
		if !slices.Contains(lex.params, name) {
			return plan{}, fmt.Errorf("never names @%s: a %s query returns %s", name, strings.TrimPrefix(kind.field, "plans."), kind.describe)
		}
	}
	body = strings.TrimRight(body, " \t\n")
	main := 0
	if lex.toks[0].text == "with" {
		// sqlc cannot resolve a WITH clause nested in a CTE: the plan's
		// CTEs go up into the generated statement's WITH clause, as
		// written, and its main query becomes src (or range_src).
		var err error
		if p.recursive, p.ctes, main, err = splitWith(body, lex.toks); err != nil {
			return plan{}, err
		}
	}
	p.query = indentQuery(body[main:], lex.quotedLines, strings.Count(body[:main], "\n"))
	return p, nil
}

func isQueryStart(tok string) bool {
	return slices.Contains([]string{"select", "with", "values", "table", "("}, tok)
}

// splitWith splits a query that starts with a WITH clause (toks are its
// tokens) into that clause's CTEs, as written, and the offset of the main
// query. Each CTE must be a query (a plan only reads) and none may take a
// name the generated statement uses.
func splitWith(body string, toks []planToken) (recursive bool, ctes string, main int, err error) {
	i := 1
	if i < len(toks) && toks[i].text == "recursive" {
		recursive, i = true, i+1
	}
	if i >= len(toks) {
		return false, "", 0, errors.New("WITH without a query")
	}
	start := toks[i].off
	for {
		// name [(columns)] AS [NOT] [MATERIALIZED] ( query )
		if i >= len(toks) || toks[i].depth != 0 || !toks[i].word {
			return false, "", 0, errors.New("cannot read the WITH clause: want name AS (query), …")
		}
		name := strings.Trim(toks[i].text, `"`)
		if slices.Contains(reservedCTEs, name) {
			return false, "", 0, fmt.Errorf("CTE %s: the generated statement names its own CTEs %s; rename it", toks[i].text, strings.Join(reservedCTEs, ", "))
		}
		i++
		if i < len(toks) && toks[i].text == "(" {
			i = closing(toks, i) + 1
		}
		for i < len(toks) && slices.Contains([]string{"as", "not", "materialized"}, toks[i].text) {
			i++
		}
		if i+1 >= len(toks) || toks[i].text != "(" {
			return false, "", 0, fmt.Errorf("cannot read the WITH clause at CTE %s: want name AS (query)", name)
		}
		if !isQueryStart(toks[i+1].text) {
			return false, "", 0, fmt.Errorf("CTE %s starts with %s: a plan only reads (SELECT, WITH, VALUES or TABLE)", name, strings.ToUpper(toks[i+1].text))
		}
		end := closing(toks, i)
		if end+1 >= len(toks) {
			return false, "", 0, errors.New("WITH without a main query")
		}
		i = end + 1
		if toks[i].text == "search" || toks[i].text == "cycle" {
			return false, "", 0, fmt.Errorf("CTE %s: its %s clause is not supported in a plan file", name, strings.ToUpper(toks[i].text))
		}
		if toks[i].text != "," {
			return recursive, body[start : toks[end].off+1], toks[i].off, nil
		}
		i++
	}
}

// closing returns the index of the token ")" that closes the "(" at toks[i]
// (the lexer checked that parentheses balance).
func closing(toks []planToken, i int) int {
	for j := i + 1; j < len(toks); j++ {
		if toks[j].text == ")" && toks[j].depth == toks[i].depth {
			return j
		}
	}
	return len(toks) - 1
}

func atNames(names []string) string {
	var out []string
	for _, n := range names {
		out = append(out, "@"+n)
	}
	return strings.Join(out, " and ")
}

func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// indentQuery indents every line of q by four spaces, except the empty ones
// and those that begin inside a string literal or quoted identifier (whose
// value an indent would change); q's first line is line first of quoted's
// numbering.
func indentQuery(q string, quoted map[int]bool, first int) string {
	lines := strings.Split(q, "\n")
	for i, l := range lines {
		if l != "" && !quoted[first+i] {
			lines[i] = "    " + l
		}
	}
	return strings.Join(lines, "\n")
}

// planToken is a word (a lower-cased key word or identifier, or a quoted
// identifier as written), "(", ")" or "," of a query, at its offset and
// parenthesis depth (a parenthesis has the depth outside it).
type planToken struct {
	off   int
	text  string
	depth int
	word  bool
}

// planLex is what lexPlan finds in a query.
type planLex struct {
	toks        []planToken  // the tokens before the first semicolon
	params      []string     // the @names, in order of first use
	positional  string       // the first $n, if any
	sqlcMacro   bool         // sqlc.arg( and kin
	nameLine    bool         // a line "-- name:"
	end         int          // the offset of the first semicolon, or -1
	afterEnd    string       // what follows it, comments and white space removed
	quotedLines map[int]bool // lines (0-based) that begin inside a literal
}

// lexPlan scans a query as PostgreSQL's lexer does as far as a plan needs:
// comments (-- and nested /* */), string literals ('…', E'…' with
// backslash escapes, $tag$…$tag$), quoted identifiers, sqlc's @name
// parameters (an @ that does not continue an operator), positional
// parameters and the first semicolon outside all of them.
func lexPlan(s string) (planLex, error) {
	l := planLex{end: -1, quotedLines: map[int]bool{}}
	var rest strings.Builder
	line, depth := 0, 0
	isIdent := func(b byte) bool {
		return b == '_' || b == '$' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b >= 0x80
	}
	isIdentStart := func(b byte) bool {
		return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= 0x80
	}
	// skipTo advances from i past the end of a literal, marking the lines
	// that begin inside it.
	skipTo := func(i, end int) int {
		for j := i; j < end; j++ {
			if s[j] == '\n' {
				line++
				l.quotedLines[line] = true
			}
		}
		return end
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f':
			i++
		case strings.HasPrefix(s[i:], "--"):
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				j = len(s) - i
			}
			if strings.HasPrefix(strings.TrimSpace(s[i:i+j]), "-- name:") {
				l.nameLine = true
			}
			i += j
		case strings.HasPrefix(s[i:], "/*"):
			depth, j := 1, i+2
			for depth > 0 {
				switch {
				case j >= len(s):
					return l, errors.New("unterminated /* comment")
				case strings.HasPrefix(s[j:], "/*"):
					depth, j = depth+1, j+2
				case strings.HasPrefix(s[j:], "*/"):
					depth, j = depth-1, j+2
				case s[j] == '\n':
					line++
					j++
				default:
					j++
				}
			}
			i = j
		case l.end >= 0:
			// Anything but comments and white space after the semicolon.
			j := i
			for j < len(s) && s[j] != '\n' {
				j++
			}
			rest.WriteString(strings.TrimSpace(s[i:j]))
			i = j
		case c == ';':
			l.end = i
			i++
		case c == '\'':
			escapes := i > 0 && (s[i-1] == 'e' || s[i-1] == 'E') && (i < 2 || !isIdent(s[i-2]))
			j := i + 1
			for {
				if j >= len(s) {
					return l, errors.New("unterminated string literal")
				}
				if escapes && s[j] == '\\' {
					j += 2
					continue
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			i = skipTo(i, j+1)
		case c == '"':
			j := i + 1
			for {
				if j >= len(s) {
					return l, errors.New("unterminated quoted identifier")
				}
				if s[j] == '"' {
					if j+1 < len(s) && s[j+1] == '"' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			l.toks = append(l.toks, planToken{off: i, text: s[i : j+1], depth: depth, word: true})
			i = skipTo(i, j+1)
		case c == '$' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if l.positional == "" {
				l.positional = s[i:j]
			}
			i = j
		case c == '$':
			j := i + 1
			for j < len(s) && isIdent(s[j]) && s[j] != '$' {
				j++
			}
			if j >= len(s) || s[j] != '$' || (j > i+1 && !isIdentStart(s[i+1])) {
				i++
				continue
			}
			tag := s[i : j+1]
			k := strings.Index(s[j+1:], tag)
			if k < 0 {
				return l, fmt.Errorf("unterminated dollar-quoted string %s", tag)
			}
			i = skipTo(i, j+1+k+len(tag))
		case c == '@' && i+1 < len(s) && isIdentStart(s[i+1]) && (i == 0 || !strings.ContainsRune("+-*/<>=~!@#%^&|`?", rune(s[i-1]))):
			j := i + 1
			for j < len(s) && isIdent(s[j]) && s[j] != '$' {
				j++
			}
			if name := s[i+1 : j]; !slices.Contains(l.params, name) {
				l.params = append(l.params, name)
			}
			i = j
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := strings.ToLower(s[i:j])
			l.toks = append(l.toks, planToken{off: i, text: word, depth: depth, word: true})
			if word == "sqlc" && j < len(s) && s[j] == '.' {
				l.sqlcMacro = true
			}
			i = j
		case c == '(':
			l.toks = append(l.toks, planToken{off: i, text: "(", depth: depth})
			depth++
			i++
		case c == ')':
			if depth--; depth < 0 {
				return l, errors.New("unbalanced parentheses: a ) closes nothing")
			}
			l.toks = append(l.toks, planToken{off: i, text: ")", depth: depth})
			i++
		case c == ',':
			l.toks = append(l.toks, planToken{off: i, text: ",", depth: depth})
			i++
		default:
			if len(l.toks) == 0 {
				l.toks = append(l.toks, planToken{off: i, text: string(c), depth: depth})
			}
			i++
		}
	}
	if depth != 0 {
		return l, errors.New("unbalanced parentheses: a ( is never closed")
	}
	l.afterEnd = rest.String()
	return l, nil
}
