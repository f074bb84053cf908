package syncgen

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

var nameLineRE = regexp.MustCompile(`(?m)^-- name: (\w+) :(\w+)`)

// checkHandWritten checks that every statement the declarations name
// (overrides, look-ups) is a hand-written statement of the queries folder
// dir/<sql.out>, of the kind its place needs, so that a typo fails here,
// naming the entity, rather than as a compile error of the generated Go.
func (c *Config) checkHandWritten(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, filepath.FromSlash(c.SQL.Out), "*.sql"))
	if err != nil {
		return err
	}
	kinds := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, ".gen.sql") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		for _, m := range nameLineRE.FindAllStringSubmatch(string(src), -1) {
			kinds[m[1]] = m[2]
		}
	}
	var errs []error
	want := func(e *Entity, field, name, kind string) {
		switch got, ok := kinds[name]; {
		case !ok:
			errs = append(errs, fmt.Errorf("%s:%d: %s %q: %s %s: no hand-written statement of that name in %s/*.sql", c.File, e.line, e.listed, e.Name, field, name, filepath.ToSlash(c.SQL.Out)))
		case got != kind:
			errs = append(errs, fmt.Errorf("%s:%d: %s %q: %s %s: is a :%s statement, want :%s", c.File, e.line, e.listed, e.Name, field, name, got, kind))
		}
	}
	for _, e := range c.declared() {
		if e.Overrides.RefreshWide != "" {
			want(e, "overrides.refresh_wide", e.Overrides.RefreshWide, "batchone")
		}
		if e.Overrides.RefreshRange != "" {
			want(e, "overrides.refresh_range", e.Overrides.RefreshRange, "batchone")
		}
		for j, cs := range e.Cascades {
			if cs.Lookup != "" {
				want(e, fmt.Sprintf("cascade %d (to %s): lookup", j+1, cs.To), cs.Lookup, "batchmany")
			}
		}
	}
	return errors.Join(errs...)
}
