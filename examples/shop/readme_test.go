package shop_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The repository root, from this package's directory.
const repoRoot = "../.."

// TestREADME_AddingAnEntityReplays replays the root README's "Adding an
// entity" on a copy of the repository's files without the review: the
// copy loses the review's migration, its declaration lines and every file
// the shop generates (queries/*.gen.sql, entities_gen.go, db/); the
// review's hand-written Go and queries stay, as the README only excerpts
// them. The section's ```sql block is then written to the file it names,
// its ```yaml block merged into the file it names, and its ```sh blocks run
// line by line (each block from the copy's root). The migration, the
// declarations and every generated file must then equal the committed ones
// byte for byte, and the shop must build and vet in the copy.
func TestREADME_AddingAnEntityReplays(t *testing.T) {
	t.Parallel()
	require.Empty(t, os.Getenv(replayMarker), "a command of the README's section runs this test again, in its own replay")
	section := readmeSection(t, "## Adding an entity")
	blocks := fencedBlocks(section)
	copyRoot := copyTrackedFiles(t)
	shop := func(rel string) string { return filepath.Join(copyRoot, "examples", "shop", rel) }

	// Remove the review from the copy.
	require.NoError(t, os.Remove(shop("migrations/00002_review.sql")))
	decl, err := os.ReadFile(shop("tvsync.yaml"))
	require.NoError(t, err)
	stripped := withoutReview(string(decl))
	require.NotContains(t, stripped, "review")
	require.NoError(t, os.WriteFile(shop("tvsync.yaml"), []byte(stripped), 0o644))
	generated := generatedFiles(t, shop("."))
	require.NotEmpty(t, generated)
	for _, rel := range generated {
		require.NoError(t, os.Remove(shop(rel)))
	}

	// Replay the section.
	var sh int
	for _, b := range blocks {
		switch b.lang {
		case "sql", "yaml":
			require.NotEmpty(t, b.file, "the README names the file of its ```%s block", b.lang)
			path := filepath.Join(copyRoot, b.file)
			if b.lang == "sql" {
				require.NoError(t, os.WriteFile(path, []byte(b.body), 0o644))
				continue
			}
			old, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, []byte(mergeYAML(string(old), b.body)), 0o644))
		case "sh":
			sh++
			cmd := exec.Command("bash", "-euo", "pipefail", "-c", b.body)
			cmd.Dir = copyRoot
			cmd.Env = replayEnv()
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "README ```sh block:\n%s\n%s", b.body, out)
			t.Logf("README ```sh block:\n%s\n%s", b.body, out)
		}
	}
	require.Equal(t, 2, sh, "the section's ```sh blocks ran")

	// The copy now holds the committed files.
	for _, rel := range append([]string{"migrations/00002_review.sql", "tvsync.yaml"}, generated...) {
		want, err := os.ReadFile(rel)
		require.NoError(t, err)
		got, err := os.ReadFile(shop(rel))
		if assert.NoError(t, err, "the replay wrote %s", rel) {
			assert.Equal(t, string(want), string(got), "%s after the README's replay", rel)
		}
	}
	assert.ElementsMatch(t, generated, generatedFiles(t, shop(".")), "the replay generated exactly the committed files")
	for _, args := range [][]string{{"build", "./..."}, {"vet", "./..."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = shop(".")
		cmd.Env = replayEnv()
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "go %v in the copy:\n%s", args, out)
	}
}

// readmeSection returns the root README's section under heading, up to the
// next "## " heading.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(raw), "\n"+heading+"\n")
	require.True(t, ok, "README.md has %q", heading)
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// block is a fenced block of markdown: its language, its body, and for sql
// and yaml the file the text before it names (the last `path` of that
// language's extension).
type block struct {
	lang, body, file string
}

var (
	fence    = regexp.MustCompile("(?m)^```(\\w*)\n((?s:.*?))^```\n")
	namedSQL = regexp.MustCompile("`([\\w./-]+\\.sql)`")
	namedYML = regexp.MustCompile("`([\\w./-]+\\.yaml)`")
)

// fencedBlocks returns the fenced blocks of a markdown section, in order.
func fencedBlocks(section string) []block {
	var out []block
	prev := 0
	for _, m := range fence.FindAllStringSubmatchIndex(section, -1) {
		b := block{lang: section[m[2]:m[3]], body: section[m[4]:m[5]]}
		named := map[string]*regexp.Regexp{"sql": namedSQL, "yaml": namedYML}[b.lang]
		if named != nil {
			if names := named.FindAllStringSubmatch(section[prev:m[0]], -1); len(names) > 0 {
				b.file = names[len(names)-1][1]
			}
		}
		out = append(out, b)
		prev = m[1]
	}
	return out
}

// copyTrackedFiles copies the repository's files (tracked, and new ones not
// ignored) into a temporary directory and returns it.
func copyTrackedFiles(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "-C", repoRoot, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	require.NoError(t, err)
	dst := t.TempDir()
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(repoRoot, rel)
		info, err := os.Lstat(src)
		if os.IsNotExist(err) {
			continue // deleted in the worktree
		}
		require.NoError(t, err)
		if !info.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dst, rel), data, info.Mode().Perm()))
	}
	return dst
}

// generatedFiles lists, relative to the shop's directory, every file the
// shop generates: tvsync gen's queries/*.gen.sql and entities_gen.go, and
// sqlc's db/.
func generatedFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if rel == "entities_gen.go" || strings.HasPrefix(rel, "db"+string(filepath.Separator)) ||
			(filepath.Dir(rel) == "queries" && strings.HasSuffix(rel, ".gen.sql")) {
			out = append(out, rel)
		}
		return nil
	}))
	slices.Sort(out)
	return out
}

// withoutReview returns the shop's tvsync.yaml without the review: its
// entity (from "  - name: review" to the next entity) and every other line
// that names it (the cascades to it and their comments).
func withoutReview(decl string) string {
	var out []string
	inReview := false
	for _, line := range strings.SplitAfter(decl, "\n") {
		if strings.HasPrefix(line, "  - name: ") {
			inReview = line == "  - name: review\n"
		}
		if inReview || strings.Contains(line, "review") {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "")
}

// mergeYAML merges a README yaml excerpt into a file: "# ..." lines stand
// for lines of the file left as they are; a line of the excerpt found in
// the file (after the previous one) is where the file's text stands; any
// other line is new, and is inserted there.
func mergeYAML(file, excerpt string) string {
	lines := strings.SplitAfter(file, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	cursor := 0
	for _, line := range strings.SplitAfter(excerpt, "\n") {
		if line == "" || strings.HasPrefix(strings.TrimSpace(line), "# ...") {
			continue
		}
		if i := slices.Index(lines[cursor:], line); i >= 0 {
			cursor += i + 1
			continue
		}
		lines = slices.Insert(lines, cursor, line)
		cursor++
	}
	return strings.Join(lines, "")
}

// replayMarker is set in the environment of the README's commands, so that
// a command that would run TestREADME_AddingAnEntityReplays again fails it
// instead of recursing.
const replayMarker = "SHOP_README_REPLAY"

// replayEnv is the environment of the README's commands in the copy:
// -trimpath so that the copy's packages, in a new directory, reuse the build
// cache across runs.
func replayEnv() []string {
	flags := strings.TrimSpace(os.Getenv("GOFLAGS") + " -trimpath")
	return append(os.Environ(), "GOFLAGS="+flags, replayMarker+"=1")
}
