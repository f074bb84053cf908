package synccli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	tvsync "github.com/tvsync/tvsync/sync"
)

// rawID is an id as given on the command line, not yet parsed: its kind of
// key depends on the entity (--entity), checked once the engine is built.
type rawID struct {
	text string
	// where names its origin in a usage error: "--ids", or the file and line.
	where string
}

// idList is the value of --ids: comma-separated ids, repeatable.
type idList []rawID

func (l *idList) String() string {
	if l == nil || len(*l) == 0 {
		return ""
	}
	texts := make([]string, len(*l))
	for i, id := range *l {
		texts[i] = id.text
	}
	return strings.Join(texts, ",")
}

// Type names the value in help.
func (l *idList) Type() string { return "ids" }

// Set adds the comma-separated ids of v.
func (l *idList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		*l = append(*l, rawID{text: part, where: "--ids"})
	}
	return nil
}

// readIDs reads ids separated by white space or commas from path, or from
// stdin when path is "-", noting the line of each.
func readIDs(path string, stdin io.Reader) ([]rawID, error) {
	r := stdin
	name := "stdin"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, Usagef("--ids-file: %v", err)
		}
		defer f.Close()
		r, name = f, path
	}
	var ids []rawID
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		for _, field := range strings.FieldsFunc(sc.Text(), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' }) {
			ids = append(ids, rawID{text: field, where: fmt.Sprintf("--ids-file %s, line %d", name, line)})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, Usagef("--ids-file %s: %v", name, err)
	}
	return ids, nil
}

// parseIDs parses ids as keys of entity, per its registered key kind. A
// malformed id is a usage error naming it, where it came from, and the key
// the entity wants.
func parseIDs(engine *tvsync.Engine, entity string, raw []rawID) ([]tvsync.ID, error) {
	ent, err := engine.Entity(entity)
	if err != nil {
		return nil, Usagef("--entity %q: %v", entity, err)
	}
	ids := make([]tvsync.ID, len(raw))
	for i, r := range raw {
		if ids[i], err = tvsync.ParseID(ent.Key, r.text); err != nil {
			return nil, Usagef("%s: %q is not a %v (the key of entity %q)", r.where, r.text, ent.Key, entity)
		}
	}
	return ids, nil
}
