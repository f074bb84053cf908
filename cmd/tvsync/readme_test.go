package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite README.md's CLI section from the real help")

// README markers around the generated CLI section.
const (
	cliBegin = "<!-- cli:begin: generated from the real help by TestREADME_CLISectionIsTheRealHelp; refresh with `go test ./cmd/tvsync -run TestREADME -update` -->\n"
	cliEnd   = "<!-- cli:end -->\n"
)

// cliReference is the README's CLI section: every command's usage line and
// summary, then the root help verbatim, both from the real command tree.
func cliReference(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("```text\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		for _, sub := range cmd.Commands() {
			if sub.Name() == "help" {
				continue
			}
			if !sub.HasAvailableSubCommands() {
				fmt.Fprintf(tw, "%s\t# %s\n", strings.TrimSuffix(sub.UseLine(), " [flags]"), sub.Short)
			}
			walk(sub)
		}
	}
	walk(newCLI().Command())
	require.NoError(t, tw.Flush())
	b.WriteString("```\n\n")
	var help bytes.Buffer
	code := execute(context.Background(), strings.NewReader(""), &help, &help, "--help")
	require.Equal(t, 0, code, help.String())
	b.WriteString("```text\n$ tvsync --help\n")
	b.WriteString(help.String())
	b.WriteString("```\n")
	return b.String()
}

func TestREADME_CLISectionIsTheRealHelp(t *testing.T) {
	const path = "../../README.md"
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	readme := string(raw)
	begin, end := strings.Index(readme, cliBegin), strings.Index(readme, cliEnd)
	require.True(t, begin >= 0 && end > begin, "README.md has the CLI markers")
	want := cliReference(t)
	got := readme[begin+len(cliBegin) : end]
	if *update && got != want {
		readme = readme[:begin+len(cliBegin)] + want + readme[end:]
		require.NoError(t, os.WriteFile(path, []byte(readme), 0o644))
		return
	}
	assert.Equal(t, want, got, "README.md's CLI section is stale: run go test ./cmd/tvsync -run TestREADME -update")
}

// TestREADME_GoSnippetsAreCompiledCode holds every ```go block of the
// README to code the build compiles: its lines, in order, must stand in one
// .go file of the repository (an Example function, or the code itself), so
// a snippet that no longer compiles, or that drifts from the API, fails
// here. A snippet's `func Name(` may stand as `Name := func(` inside an
// Example (an example cannot declare TestMain).
func TestREADME_GoSnippetsAreCompiledCode(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	snippets := goSnippets(string(raw))
	require.NotEmpty(t, snippets)

	var files []string
	require.NoError(t, filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files = append(files, string(src))
		}
		return nil
	}))
	for _, snippet := range snippets {
		want := codeLines(snippet)
		found := slices.ContainsFunc(files, func(src string) bool { return isSubsequence(want, codeLines(src)) })
		assert.True(t, found, "no .go file holds this README snippet (add it to an Example):\n%s", snippet)
	}
}

// goSnippets returns the bodies of the ```go blocks of markdown, indented
// ones (inside a list item) included.
func goSnippets(markdown string) []string {
	var out []string
	lines := strings.Split(markdown, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```go" {
			continue
		}
		var b strings.Builder
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			b.WriteString(lines[i] + "\n")
		}
		out = append(out, b.String())
	}
	return out
}

// funcDecl matches a function declaration's head, which an Example writes
// as a closure.
var funcDecl = regexp.MustCompile(`^func (\w+)\(`)

// codeLines returns src's non-blank lines, trimmed, with declarations
// written as closures.
func codeLines(src string) []string {
	var out []string
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		out = append(out, funcDecl.ReplaceAllString(line, "$1 := func("))
	}
	return out
}

// isSubsequence reports whether want's lines stand in have in order.
func isSubsequence(want, have []string) bool {
	i := 0
	for _, line := range have {
		if i < len(want) && line == want[i] {
			i++
		}
	}
	return i == len(want)
}
