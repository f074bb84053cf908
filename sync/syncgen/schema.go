package syncgen

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Table is a table of the schema and its columns, in table order.
type Table struct {
	// Name is the table's name, schema-qualified unless in public.
	Name    string
	Columns []string
}

// SchemaTables reads the tables and their columns, in table order, from
// schema files as sqlc reads them: each path is a .sql file or a folder of
// them (in name order); of a goose migration only the Up part counts. It
// follows CREATE TABLE, ALTER TABLE (ADD, DROP and RENAME COLUMN, RENAME
// TO, SET SCHEMA) and DROP TABLE; views are no tables. Statements built at
// run time (EXECUTE in a DO block) are invisible to it, as to sqlc.
func SchemaTables(paths []string) ([]Table, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("schema: %w", err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(p, "*.sql"))
		if err != nil {
			return nil, fmt.Errorf("schema: %w", err)
		}
		sort.Strings(matches)
		files = append(files, matches...)
	}
	s := &schema{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("schema: %w", err)
		}
		for _, stmt := range statements(gooseUp(string(data))) {
			if err := s.apply(stmt); err != nil {
				return nil, fmt.Errorf("schema %s: %w", f, err)
			}
		}
	}
	return s.tables, nil
}

// gooseUp returns the Up part of a goose migration (all of a plain file).
func gooseUp(src string) string {
	if i := strings.Index(src, "-- +goose Down"); i >= 0 {
		return src[:i]
	}
	return src
}

// token is a word of a statement: a keyword or unquoted identifier
// (lower-cased), a quoted identifier (quoted set), or a punctuation mark.
type token struct {
	text   string
	quoted bool
}

func (t token) is(words ...string) bool { return !t.quoted && slices.Contains(words, t.text) }

// statements splits SQL into statements of tokens, dropping comments,
// string literals and dollar-quoted bodies (kept as one opaque token).
func statements(src string) [][]token {
	var out [][]token
	var cur []token
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '-' && strings.HasPrefix(src[i:], "--"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				i = len(src)
			} else {
				i += end + 4
			}
		case c == '\'':
			j := i + 1
			for j < len(src) {
				if src[j] == '\'' {
					if j+1 < len(src) && src[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			cur = append(cur, token{text: "'…'", quoted: true})
			i = j + 1
		case c == '"':
			j := strings.IndexByte(src[i+1:], '"')
			if j < 0 {
				j = len(src) - i - 1
			}
			cur = append(cur, token{text: src[i+1 : i+1+j], quoted: true})
			i += j + 2
		case c == '$' && dollarTag(src[i:]) != "":
			tag := dollarTag(src[i:])
			end := strings.Index(src[i+len(tag):], tag)
			if end < 0 {
				i = len(src)
			} else {
				i += len(tag) + end + len(tag)
			}
			cur = append(cur, token{text: "$…$", quoted: true})
		case c == ';':
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
			i++
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isWord(c):
			j := i
			for j < len(src) && isWord(src[j]) {
				j++
			}
			cur = append(cur, token{text: strings.ToLower(src[i:j])})
			i = j
		default:
			cur = append(cur, token{text: string(c)})
			i++
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func isWord(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// dollarTag returns the opening tag of a dollar-quoted string at the start
// of s ("$$", "$body$"), or "".
func dollarTag(s string) string {
	for j := 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '$':
			return s[:j+1]
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 1 && c >= '0' && c <= '9':
		default:
			return ""
		}
	}
	return ""
}

// schema is the tables of the statements applied so far.
type schema struct {
	tables []Table
}

func (s *schema) find(name string) *Table {
	for i := range s.tables {
		if s.tables[i].Name == name {
			return &s.tables[i]
		}
	}
	return nil
}

// qualifiedName reads [schema.]name at toks[i:], returning the name
// (without "public.") and the index after it.
func qualifiedName(toks []token, i int) (string, int) {
	if i >= len(toks) {
		return "", i
	}
	name := toks[i].text
	i++
	if i+1 < len(toks) && toks[i].text == "." && !toks[i].quoted {
		name += "." + toks[i+1].text
		i += 2
	}
	return strings.TrimPrefix(name, "public."), i
}

// skip advances i past the words given, in order, that are present.
func skip(toks []token, i int, words ...string) int {
	for _, w := range words {
		if i < len(toks) && toks[i].is(w) {
			i++
		}
	}
	return i
}

// splitTop splits toks at the commas outside parentheses.
func splitTop(toks []token) [][]token {
	var out [][]token
	depth, start := 0, 0
	for i, t := range toks {
		switch {
		case t.is("("):
			depth++
		case t.is(")"):
			depth--
		case t.is(",") && depth == 0:
			out = append(out, toks[start:i])
			start = i + 1
		}
	}
	return append(out, toks[start:])
}

func (s *schema) apply(toks []token) error {
	switch {
	case toks[0].is("create"):
		i := skip(toks, 1, "or", "replace", "global", "local", "temp", "temporary", "unlogged")
		if i >= len(toks) || !toks[i].is("table") {
			return nil
		}
		name, i := qualifiedName(toks, skip(toks, i+1, "if", "not", "exists"))
		if i >= len(toks) || !toks[i].is("(") {
			return nil // CREATE TABLE … AS, OF, PARTITION OF: no column list of its own
		}
		depth, end := 0, i
		for ; end < len(toks); end++ {
			if toks[end].is("(") {
				depth++
			} else if toks[end].is(")") {
				if depth--; depth == 0 {
					break
				}
			}
		}
		t := Table{Name: name}
		for _, el := range splitTop(toks[i+1 : end]) {
			if len(el) == 0 || el[0].is("constraint", "primary", "unique", "check", "foreign", "exclude", "like") {
				continue
			}
			t.Columns = append(t.Columns, el[0].text)
		}
		if s.find(name) != nil {
			return fmt.Errorf("table %s created twice", name)
		}
		s.tables = append(s.tables, t)
	case toks[0].is("drop") && len(toks) > 1 && toks[1].is("table"):
		for _, part := range splitTop(toks[skip(toks, 2, "if", "exists"):]) {
			name, _ := qualifiedName(part, 0)
			s.tables = slices.DeleteFunc(s.tables, func(t Table) bool { return t.Name == name })
		}
	case toks[0].is("alter") && len(toks) > 1 && toks[1].is("table"):
		name, i := qualifiedName(toks, skip(toks, 2, "if", "exists", "only"))
		t := s.find(name)
		if t == nil {
			return nil // a table the schema does not create (or created at run time)
		}
		for _, a := range splitTop(toks[i:]) {
			if err := t.alter(a); err != nil {
				return fmt.Errorf("ALTER TABLE %s: %w", name, err)
			}
		}
	}
	return nil
}

// alter applies one action of ALTER TABLE to t.
func (t *Table) alter(a []token) error {
	if len(a) < 2 {
		return nil
	}
	switch {
	case a[0].is("add"):
		i := skip(a, 1, "column")
		if i == 1 && a[1].is("constraint", "primary", "unique", "check", "foreign", "exclude") {
			return nil
		}
		i = skip(a, i, "if", "not", "exists")
		if i < len(a) && !slices.Contains(t.Columns, a[i].text) {
			t.Columns = append(t.Columns, a[i].text)
		}
	case a[0].is("drop"):
		i := skip(a, 1, "column")
		if i == 1 && a[1].is("constraint") {
			return nil
		}
		i = skip(a, i, "if", "exists")
		if i < len(a) {
			t.Columns = slices.DeleteFunc(t.Columns, func(c string) bool { return c == a[i].text })
		}
	case a[0].is("rename"):
		switch {
		case a[1].is("to"):
			if len(a) > 2 {
				t.Name = strings.TrimPrefix(schemaOf(t.Name)+a[2].text, "public.")
			}
		case a[1].is("constraint"):
		default:
			i := skip(a, 1, "column")
			if i+2 < len(a) && a[i+1].is("to") {
				if k := slices.Index(t.Columns, a[i].text); k >= 0 {
					t.Columns[k] = a[i+2].text
				}
			}
		}
	case a[0].is("set") && a[1].is("schema") && len(a) > 2:
		base := t.Name[strings.LastIndex(t.Name, ".")+1:]
		t.Name = strings.TrimPrefix(a[2].text+"."+base, "public.")
	}
	return nil
}

// schemaOf returns the "schema." prefix of a qualified name, or "".
func schemaOf(name string) string {
	return name[:strings.LastIndex(name, ".")+1]
}
