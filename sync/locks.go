package sync

import (
	"hash/fnv"
	"slices"

	"github.com/google/uuid"
)

// The lock plan. Every sync takes transaction-scoped advisory locks before
// its refresh statement takes its snapshot, so that of two overlapping syncs
// of a row the later one reads after the earlier one committed. Locks are
// hierarchical, so that their number stays bounded (the lock table is shared
// by the whole server) while small syncs of different ids never wait for
// each other:
//
//   - a super-bucket is an entity's ids that share their first byte (256
//     per entity);
//   - a small batch (at most fineLockLimit ids of an entity) locks each of
//     its ids exclusively and their super-buckets shared;
//   - a large batch, or a full-sync keyset range, locks its super-buckets
//     exclusively (at most 256 per entity).
//
// Two syncs of one id therefore always conflict: on the id (small, small),
// or on its super-bucket (large against anything). Keys are taken in one
// statement in ascending order, super-buckets (level 0) before ids
// (level 1), which orders every transaction's acquisitions the same way, so
// the locks cannot deadlock among themselves.
const fineLockLimit = 128

// lockClass is an entity's 14-bit namespace in lock keys.
func lockClass(entity string) int64 {
	h := fnv.New32a()
	h.Write([]byte(entity))
	return int64(h.Sum32() & 0x3fff)
}

// superKey is the lock key of an entity's super-bucket b.
func superKey(class int64, b byte) int64 { return class<<48 | int64(b) }

// rebuildKey is the session-level advisory lock that lets one rebuild of an
// entity run at a time: level 3 (a negative key), the class. No sync ever
// takes it, and a rebuild only tries it (pg_try_advisory_lock), so it cannot
// take part in a deadlock.
func rebuildKey(entity string) int64 { return -1<<62 | lockClass(entity) }

// idKey is the lock key of one id: level 1, the class, the id's first 48 bits.
func idKey(class int64, id uuid.UUID) int64 {
	return 1<<62 | class<<48 | int64(id[0])<<40 | int64(id[1])<<32 | int64(id[2])<<24 | int64(id[3])<<16 | int64(id[4])<<8 | int64(id[5])
}

// superBucket is the super-bucket of an id: its first byte.
func superBucket(id uuid.UUID) byte { return id[0] }

// superEnd is the largest id of super-bucket b.
func superEnd(b byte) uuid.UUID {
	id := maxUUID
	id[0] = b
	return id
}

// lockPlan accumulates the locks of one sync.
type lockPlan map[int64]bool // key -> shared

// addIDs plans the locks for ids of entity, by id or by super-bucket.
func (l lockPlan) addIDs(entity string, ids []uuid.UUID) {
	class := lockClass(entity)
	if len(ids) > fineLockLimit {
		for _, id := range ids {
			l[superKey(class, superBucket(id))] = false
		}
		return
	}
	for _, id := range ids {
		if k := superKey(class, superBucket(id)); !l.exclusive(k) {
			l[k] = true
		}
		l[idKey(class, id)] = false
	}
}

// addRange plans exclusive locks on every super-bucket that ids in the
// keyset range (after, upto] of entity can fall in.
func (l lockPlan) addRange(entity string, after, upto uuid.UUID) {
	class := lockClass(entity)
	first, last := int(superBucket(after)), int(superBucket(upto))
	if after == superEnd(byte(first)) {
		first++ // the range starts in the next bucket
	}
	for b := first; b <= last; b++ {
		l[superKey(class, byte(b))] = false
	}
}

func (l lockPlan) exclusive(k int64) bool {
	shared, ok := l[k]
	return ok && !shared
}

// sorted returns the keys in acquisition order with their modes.
func (l lockPlan) sorted() (keys []int64, shared []bool) {
	keys = make([]int64, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	shared = make([]bool, len(keys))
	for i, k := range keys {
		shared[i] = l[k]
	}
	return keys, shared
}
