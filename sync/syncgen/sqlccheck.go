package syncgen

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// uuidGoType is the Go type the generated registration passes uuid keys as
// (sync.UUIDs: []uuid.UUID of github.com/google/uuid).
const uuidGoType = "github.com/google/uuid.UUID"

// checkSqlcTypes checks that the team's sqlc.yaml (at path) gives the
// generated code the Go types it passes: with sqlc's pgx/v5 defaults a
// uuid column is a pgtype.UUID, so uuid keys need the override of uuid to
// github.com/google/uuid.UUID in every sqlc block that generates Go. The
// error names the entities, the block and the exact lines to add. bigint,
// integer and text keys need no override (int64, int32, string).
func (c *Config) checkSqlcTypes(path string) error {
	var uuidEntities []string
	for _, e := range c.declared() {
		if e.Key.Type == KeyUUID {
			uuidEntities = append(uuidEntities, e.Name)
		}
	}
	if len(uuidEntities) == 0 {
		return nil
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("sqlc: %w", err)
	}
	type override struct {
		DBType   string    `yaml:"db_type"`
		GoType   yaml.Node `yaml:"go_type"`
		Nullable bool      `yaml:"nullable"`
	}
	var cfg struct {
		SQL []struct {
			Gen struct {
				Go *struct {
					Overrides []override `yaml:"overrides"`
				} `yaml:"go"`
			} `yaml:"gen"`
		} `yaml:"sql"`
		Overrides struct {
			Go struct {
				Overrides []override `yaml:"overrides"`
			} `yaml:"go"`
		} `yaml:"overrides"`
	}
	if err := yaml.Unmarshal(src, &cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	maps := func(list []override) bool {
		for _, o := range list {
			if o.DBType != "uuid" && o.DBType != "pg_catalog.uuid" || o.Nullable {
				continue
			}
			switch o.GoType.Kind {
			case yaml.ScalarNode:
				if o.GoType.Value == uuidGoType {
					return true
				}
			case yaml.MappingNode:
				var t struct {
					Import  string `yaml:"import"`
					Type    string `yaml:"type"`
					Package string `yaml:"package"`
				}
				if o.GoType.Decode(&t) == nil && t.Import == "github.com/google/uuid" && t.Type == "UUID" {
					return true
				}
			}
		}
		return false
	}
	global := maps(cfg.Overrides.Go.Overrides)
	for i, block := range cfg.SQL {
		if block.Gen.Go == nil || global || maps(block.Gen.Go.Overrides) {
			continue
		}
		return fmt.Errorf("%s: sql[%d].gen.go maps uuid columns to pgtype.UUID (sqlc's pgx/v5 default), but the registration tvsync gen writes for %s (key.type uuid) passes their keys as %s: "+
			"add to sql[%d].gen.go.overrides:\n  - db_type: uuid\n    go_type: %s",
			filepath.ToSlash(path), i, plural("entity", uuidEntities), uuidGoType, i, uuidGoType)
	}
	return nil
}

// plural names a list of things: entity "a", entities "a", "b".
func plural(what string, names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(names) == 1 {
		return what + " " + q[0]
	}
	return strings.TrimSuffix(what, "y") + "ies " + strings.Join(q, ", ")
}
