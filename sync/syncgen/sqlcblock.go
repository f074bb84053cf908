package syncgen

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The lines around the block of sqlc.yaml that gen rewrites: comments of
// the CEL source of the no-select-star rule.
const (
	blockBegin = "// BEGIN tvsync gen"
	blockEnd   = "// END tvsync gen"
)

// renderSqlc returns sqlc.yaml (at path) with the block between the lines
// holding blockBegin and blockEnd replaced by one CEL list per distinct
// column list of the tables of its schema, in table order, each followed
// by a comment naming its tables.
func renderSqlc(path string) (File, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("sqlc: %w", err)
	}
	var cfg struct {
		SQL []struct {
			Schema yaml.Node `yaml:"schema"`
		} `yaml:"sql"`
	}
	if err := yaml.Unmarshal(src, &cfg); err != nil {
		return File{}, fmt.Errorf("%s: %w", path, err)
	}
	var paths []string
	for _, block := range cfg.SQL {
		var list []string
		if block.Schema.Kind == yaml.ScalarNode {
			list = []string{block.Schema.Value}
		} else if err := block.Schema.Decode(&list); err != nil {
			return File{}, fmt.Errorf("%s: sql.schema: %w", path, err)
		}
		for _, p := range list {
			p = filepath.Join(filepath.Dir(path), p)
			if !slices.Contains(paths, p) {
				paths = append(paths, p)
			}
		}
	}
	if len(paths) == 0 {
		return File{}, fmt.Errorf("%s: no sql[].schema to read the tables from", path)
	}
	tables, err := SchemaTables(paths)
	if err != nil {
		return File{}, err
	}
	lines := strings.SplitAfter(string(src), "\n")
	begin, end := -1, -1
	for i, l := range lines {
		switch {
		case strings.Contains(l, blockBegin) && begin < 0:
			begin = i
		case strings.Contains(l, blockEnd) && begin >= 0 && end < 0:
			end = i
		}
	}
	if begin < 0 || end < 0 {
		return File{}, fmt.Errorf("%s: no block to rewrite: add the lines %q and %q inside the list of column lists of the no-select-star rule", path, blockBegin, blockEnd)
	}
	indent := lines[begin][:len(lines[begin])-len(strings.TrimLeft(lines[begin], " \t"))]
	var b bytes.Buffer
	for _, l := range lines[:begin+1] {
		b.WriteString(l)
	}
	type group struct {
		cols  []string
		names []string
	}
	var groups []*group
	for _, t := range tables {
		if len(t.Columns) == 0 {
			continue
		}
		var g *group
		for _, o := range groups {
			if strings.Join(o.cols, ",") == strings.Join(t.Columns, ",") {
				g = o
			}
		}
		if g == nil {
			g = &group{cols: t.Columns}
			groups = append(groups, g)
		}
		g.names = append(g.names, t.Name)
	}
	for i, g := range groups {
		quoted := make([]string, len(g.cols))
		for j, c := range g.cols {
			quoted[j] = strconv.Quote(c)
		}
		comma := ","
		if i == len(groups)-1 {
			comma = ""
		}
		fmt.Fprintf(&b, "%s[%s]%s // %s\n", indent, strings.Join(quoted, ", "), comma, strings.Join(g.names, ", "))
	}
	for _, l := range lines[end:] {
		b.WriteString(l)
	}
	return File{Path: path, Content: b.Bytes()}, nil
}
