package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
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
