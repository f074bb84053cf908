package sync

import "github.com/google/uuid"

// Keyset walks. Every keyset statement takes a cursor after which it lists
// or covers ids; uuid.Nil, the cursor a walk starts from, is the exception:
// a range or listing from uuid.Nil starts at the very first id, the
// all-zero id included (see queries/README.md). A walk from uuid.Nil to
// maxUUID therefore covers the whole key range.

// pageLimit is how many ids to list after the cursor for a page of chunk
// ids. A page listed from uuid.Nil must reach past the all-zero id: with a
// chunk of one, a page holding just that id would make it the next cursor,
// which lists it again, and the walk would never advance.
func pageLimit(after uuid.UUID, chunk int) int {
	if after == uuid.Nil && chunk < 2 {
		return 2
	}
	return chunk
}
