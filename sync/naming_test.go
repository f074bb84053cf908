package sync_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// blogWords are the words of the seed's blog that the kit must not name:
// package sync and the packages under it are for any team's entities.
var blogWords = map[string]bool{
	"user": true, "users": true,
	"post": true, "posts": true,
	"comment": true, "comments": true,
}

// identWords splits an identifier into its words at case changes, digits and
// underscores: "SyncPost" → [sync post], "HTTPUser" → [http user].
func identWords(name string) []string {
	var words []string
	rs := []rune(name)
	start := 0
	flush := func(end int) {
		if end > start {
			words = append(words, strings.ToLower(string(rs[start:end])))
		}
		start = end
	}
	for i := 0; i < len(rs); i++ {
		switch {
		case rs[i] == '_':
			flush(i)
			start = i + 1
		case i > start && unicode.IsUpper(rs[i]) && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1])):
			flush(i) // fooBar → foo|Bar
		case i > start && unicode.IsUpper(rs[i]) && i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1]):
			flush(i) // HTTPUser → HTTP|User
		}
	}
	flush(len(rs))
	return words
}

func namesBlogWord(name string) bool {
	for _, w := range identWords(name) {
		if blogWords[w] {
			return true
		}
	}
	return false
}

func TestIdentWords(t *testing.T) {
	for name, want := range map[string]bool{
		"SyncPost": true, "EntityUser": true, "DeleteComment": true, "BlogEntities": false,
		"Posts": true, "HTTPUser": true, "PostgresURL": false, "Postgres": false,
		"Poster": false, "user_id": true, "Sync": false, "Reuse": false,
	} {
		if got := namesBlogWord(name); got != want {
			t.Errorf("namesBlogWord(%q) = %v, want %v (words %q)", name, got, want, identWords(name))
		}
	}
}

// TestKitNamesNoBlogEntity holds the kit (package sync and every package
// under sync/) to exported identifiers free of the blog's entity names: a
// team that brings its own schema must not meet the seed's user, post or
// comment in the API it implements or calls.
func TestKitNamesNoBlogEntity(t *testing.T) {
	fset := token.NewFileSet()
	var bad []string
	report := func(pos token.Pos, kind, name string) {
		if ast.IsExported(name) && namesBlogWord(name) {
			bad = append(bad, fset.Position(pos).String()+": "+kind+" "+name)
		}
	}
	fields := func(owner string, fl *ast.FieldList) {
		if fl == nil {
			return
		}
		for _, f := range fl.List {
			for _, n := range f.Names {
				report(n.Pos(), "field/method of "+owner, n.Name)
			}
		}
	}
	files := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				kind := "func"
				if d.Recv != nil {
					kind = "method"
				}
				report(d.Name.Pos(), kind, d.Name.Name)
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						report(s.Name.Pos(), "type", s.Name.Name)
						switch tt := s.Type.(type) {
						case *ast.StructType:
							fields(s.Name.Name, tt.Fields)
						case *ast.InterfaceType:
							fields(s.Name.Name, tt.Methods)
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							report(n.Pos(), d.Tok.String(), n.Name)
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no Go file parsed under sync/")
	}
	if len(bad) > 0 {
		t.Errorf("%d exported identifiers of the kit name a blog entity (move them to package blog):\n%s",
			len(bad), strings.Join(bad, "\n"))
	}
}
