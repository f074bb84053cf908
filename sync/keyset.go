package sync

// Keyset walks. Every keyset statement takes a cursor after which it lists
// or covers ids; minID of the key kind (the all-zero uuid, math.MinInt64,
// math.MinInt32 or the empty text), the cursor a walk starts from, is the
// exception: a range or listing from minID starts at the very first id,
// minID included (see queries/README.md). A walk from minID to maxID
// therefore covers the whole key range. Text keys are walked in COLLATE "C"
// order, the order of ID.Compare, whatever the column's collation; their
// maxID is an open bound, no key.

// pageLimit is how many ids to list after the cursor for a page of chunk
// ids. A page listed from minID must reach past minID itself: with a chunk
// of one, a page holding just that id would make it the next cursor, which
// lists it again, and the walk would never advance.
func pageLimit(kind KeyKind, after ID, chunk int) int {
	if after == minID(kind) && chunk < 2 {
		return 2
	}
	return chunk
}
