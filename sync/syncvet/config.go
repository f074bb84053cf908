package syncvet

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"go.yaml.in/yaml/v3"
)

// config is a parsed sqlc configuration: its file, kept as a YAML node
// tree so that a rewrite keeps every other key (and the rules) as written.
type config struct {
	path string     // absolute
	root *yaml.Node // the document's top-level mapping
	sql  []*yaml.Node
}

// readConfig reads and checks the sqlc configuration at path: version 2,
// at least one entry under sql.
func readConfig(path string) (*config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlc config %s: %w", path, err)
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("sqlc config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("sqlc config %s: %w", path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("sqlc config %s: not a YAML mapping", path)
	}
	c := &config{path: abs, root: doc.Content[0]}
	if v := value(c.root, "version"); v == nil || v.Value != "2" {
		return nil, fmt.Errorf("sqlc config %s: syncvet reads version \"2\" configurations only", path)
	}
	entries := value(c.root, "sql")
	if entries == nil || entries.Kind != yaml.SequenceNode || len(entries.Content) == 0 {
		return nil, fmt.Errorf("sqlc config %s: no entry under sql", path)
	}
	for i, e := range entries.Content {
		if e.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("sqlc config %s: sql[%d] is not a mapping", path, i)
		}
	}
	c.sql = entries.Content
	return c, nil
}

// envRef matches a value made of one environment variable alone, as sqlc
// expands it: ${NAME} or $NAME.
var envRef = regexp.MustCompile(`^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$`)

// databaseEnv returns the environment variables from which the database.uri
// of the configuration's sql entries come, one per entry that names a
// database, in entry order, without repeats. It refuses an entry whose
// database is managed by sqlc or written into the file, and a configuration
// with no database at all.
func (c *config) databaseEnv() ([]string, error) {
	var names []string
	for i, e := range c.sql {
		db := value(e, "database")
		if db == nil {
			continue
		}
		if m := value(db, "managed"); m != nil && m.Value == "true" {
			return nil, fmt.Errorf("sqlc config %s: sql[%d].database is managed by sqlc; syncvet needs `uri: ${VET_DATABASE_URL}` (any variable name) to hand sqlc its database", c.path, i)
		}
		uri := value(db, "uri")
		if uri == nil || uri.Value == "" {
			return nil, fmt.Errorf("sqlc config %s: sql[%d].database has no uri; syncvet needs `uri: ${VET_DATABASE_URL}` (any variable name)", c.path, i)
		}
		m := envRef.FindStringSubmatch(uri.Value)
		if m == nil {
			return nil, fmt.Errorf("sqlc config %s: sql[%d].database.uri must be an environment variable alone, as `uri: ${VET_DATABASE_URL}`, so that the test can point it at its database; it is %q", c.path, i, uri.Value)
		}
		name := m[1] + m[2]
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("sqlc config %s: no sql entry names a database; add `database: {uri: ${VET_DATABASE_URL}}` for sqlc vet to explain the queries on", c.path)
	}
	return names, nil
}

// fixtureConfig returns the configuration rewritten to live in dir: its
// first sql entry alone (any other is dropped: its queries are not the
// fixtures'), that entry's queries replaced by queries (paths relative to
// dir), its schema paths made relative to dir, and each gen or codegen
// output moved into dir, so that nothing run on the copy writes over the
// application's generated code. Everything else, the rules first, is kept.
func (c *config) fixtureConfig(dir string, queries []string) ([]byte, error) {
	if _, err := c.databaseEnv(); err != nil {
		return nil, err
	}
	e := c.sql[0]
	if entries := value(c.root, "sql"); len(entries.Content) > 1 {
		entries.Content = entries.Content[:1]
		c.sql = entries.Content
	}
	schema := value(e, "schema")
	if schema == nil {
		return nil, fmt.Errorf("sqlc config %s: sql[0] has no schema", c.path)
	}
	// sqlc joins every path of the configuration to the configuration's
	// folder (an absolute one too), so the copy names the same files by
	// paths relative to its own folder.
	configDir := filepath.Dir(c.path)
	var paths []string
	switch schema.Kind {
	case yaml.ScalarNode:
		paths = []string{schema.Value}
	case yaml.SequenceNode:
		for _, p := range schema.Content {
			paths = append(paths, p.Value)
		}
	default:
		return nil, fmt.Errorf("sqlc config %s: sql[0].schema is neither a path nor a list of paths", c.path)
	}
	for i, p := range paths {
		rel, err := filepath.Rel(dir, filepath.Join(configDir, p))
		if err != nil {
			return nil, fmt.Errorf("sqlc config %s: schema %s: %w", c.path, p, err)
		}
		paths[i] = filepath.ToSlash(rel)
	}
	setValue(e, "schema", stringList(paths))
	setValue(e, "queries", stringList(queries))

	if gen := value(e, "gen"); gen != nil && gen.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(gen.Content); i += 2 {
			if out := value(gen.Content[i+1], "out"); out != nil {
				out.Value = "gen/" + gen.Content[i].Value
			}
		}
	}
	if codegen := value(e, "codegen"); codegen != nil && codegen.Kind == yaml.SequenceNode {
		for i, cg := range codegen.Content {
			if out := value(cg, "out"); out != nil {
				out.Value = fmt.Sprintf("gen/codegen%d", i)
			}
		}
	}

	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c.root); err != nil {
		return nil, fmt.Errorf("sqlc config %s: %w", c.path, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("sqlc config %s: %w", c.path, err)
	}
	return b.Bytes(), nil
}

// value returns the value of key in mapping m, or nil.
func value(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// setValue sets key of mapping m to v, appending the key when m lacks it.
func setValue(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

// stringList returns a flow-style YAML list of strings: [a, b].
func stringList(items []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	for _, s := range items {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s})
	}
	return n
}
