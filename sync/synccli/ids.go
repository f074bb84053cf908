package synccli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/uuid"
)

// idList is the value of --ids: comma-separated UUIDs, repeatable.
type idList []uuid.UUID

func (l *idList) String() string {
	if l == nil || len(*l) == 0 {
		return ""
	}
	return fmt.Sprint(*l)
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
		id, err := uuid.Parse(part)
		if err != nil {
			return fmt.Errorf("%q is not a UUID", part)
		}
		*l = append(*l, id)
	}
	return nil
}

// readIDs reads UUIDs separated by white space or commas from path, or from
// stdin when path is "-". A malformed id is a usage error naming it and its
// line.
func readIDs(path string, stdin io.Reader) ([]uuid.UUID, error) {
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
	var ids []uuid.UUID
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		for _, field := range strings.FieldsFunc(sc.Text(), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' }) {
			id, err := uuid.Parse(field)
			if err != nil {
				return nil, Usagef("--ids-file %s, line %d: %q is not a UUID", name, line, field)
			}
			ids = append(ids, id)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, Usagef("--ids-file %s: %v", name, err)
	}
	return ids, nil
}
