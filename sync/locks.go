package sync

import (
	"context"
	"fmt"
	"slices"

	"github.com/tvsync/tvsync/sync/internal/dbsqlc"
)

// The lock plan. Every sync takes, before its refresh statement takes its
// snapshot, one transaction-scoped exclusive advisory lock per (entity, id)
// it syncs, so that of two overlapping syncs of a row the later one reads
// after the earlier one committed. Locks are taken in one statement, in
// ascending key order, so that no two syncs can deadlock on them. Nothing
// depends on the order of the keys themselves: random uuids, time-ordered
// UUIDv7, integer sequences and text keys spread alike, so syncs (and full-sync chunks)
// of different ids never wait for each other however close their ids are.
//
// A transaction of the engine's own holds at most Config.BatchSize ids of
// each entity, so at most that many locks per entity: larger syncs and
// full-sync chunks are split into transactions (see Config.BatchSize for
// PostgreSQL's lock table).
//
// Keys are namespaced: the high 32 bits are Config.AdvisoryLockPrefix, the
// low 32 bits a hash of (entity, id) with its top bit clear. The rebuild's
// session lock of an entity has that bit set, so it never shares a key with
// any id's lock. Two ids whose hashes collide share a lock: they are synced
// one after the other, which is never wrong.

// DefaultAdvisoryLockPrefix is the high 32 bits of every advisory lock key
// of an engine whose Config.AdvisoryLockPrefix is zero: "tvsy" in ASCII.
const DefaultAdvisoryLockPrefix int32 = 0x74767379

// FNV-1a, 32 bits.
const (
	fnvOffset32 = 2166136261
	fnvPrime32  = 16777619
)

func fnv32(h uint32, b []byte) uint32 {
	for _, c := range b {
		h ^= uint32(c)
		h *= fnvPrime32
	}
	return h
}

// entityHash is the hash state of an entity's name, where its ids' hashes start.
func entityHash(entity string) uint32 {
	return fnv32(fnvOffset32, append([]byte(entity), 0))
}

// lockKey is the advisory lock key of one id of the entity whose name
// hashes to eh: the prefix, then 31 bits of hash.
func lockKey(prefix int64, eh uint32, id ID) int64 {
	h := (eh ^ uint32(id.kind)) * fnvPrime32
	if id.kind == KeyText {
		for i := 0; i < len(id.s); i++ {
			h ^= uint32(id.s[i])
			h *= fnvPrime32
		}
	} else {
		h = fnv32(h, id.b[:])
	}
	return prefix<<32 | int64(h&0x7fffffff)
}

// rebuildKey is the session-level advisory lock that lets one rebuild of an
// entity run at a time: the prefix, then the entity's hash with the top bit
// set. No sync ever takes it, and a rebuild only tries it
// (pg_try_advisory_lock), so it cannot take part in a deadlock.
func rebuildKey(prefix int64, entity string) int64 {
	return prefix<<32 | int64(entityHash(entity)|0x80000000)
}

// lockPlan accumulates the lock keys of one sync: true marks a key taken
// shared (a row the sync's documents read), false exclusive (a row it
// syncs), which wins when a key is both.
type lockPlan map[int64]bool

// addIDs plans an exclusive lock on each of ids of entity.
func (l lockPlan) addIDs(prefix int64, entity string, ids []ID) {
	eh := entityHash(entity)
	for _, id := range ids {
		l[lockKey(prefix, eh, id)] = false
	}
}

// addShared plans a shared lock on each of ids of entity, unless the key
// is planned exclusive.
func (l lockPlan) addShared(prefix int64, entity string, ids []ID) {
	eh := entityHash(entity)
	for _, id := range ids {
		if k := lockKey(prefix, eh, id); !l.has(k) {
			l[k] = true
		}
	}
}

func (l lockPlan) has(k int64) bool { _, ok := l[k]; return ok }

// add plans an exclusive lock on every id of s.
func (l lockPlan) add(prefix int64, s idSet) {
	for name, m := range s {
		eh := entityHash(name)
		for id := range m {
			l[lockKey(prefix, eh, id)] = false
		}
	}
}

// sorted returns the keys in acquisition order, and whether each is shared.
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

// lock takes the advisory locks of every id of s on conn, in one statement
// in sorted order; with sources, also the shared locks of the rows their
// documents reference (see Cascade.Referenced), looked up first.
func (e *Engine) lock(ctx context.Context, conn DB, s idSet, sources bool) error {
	l := lockPlan{}
	l.add(e.lockPrefix, s)
	if sources {
		p := &Pipeline{}
		if err := e.readSources(ctx, conn, p, e.sourceReads(p, s), l); err != nil {
			return err
		}
	}
	keys, shared := l.sorted()
	var err error
	e.queries.SyncLock(ctx, conn, []dbsqlc.SyncLockParams{{Keys: keys, Shared: shared}}).QueryRow(func(_ int, _ dbsqlc.SyncLockRow, qerr error) { err = qerr })
	if err != nil {
		return fmt.Errorf("take sync locks: %w", err)
	}
	return nil
}

// source is a cascade seen from its dependent: the rows of entity that the
// dependent's rows reference, listed by read (Cascade.Referenced).
type source struct {
	entity string
	read   func(p *Pipeline, ids []ID) func() ([]ID, error)
}

// sourceReads queues on p, for the ids of s, the look-ups of the rows they
// reference (Cascade.Referenced).
func (e *Engine) sourceReads(p *Pipeline, s idSet) []lookup {
	var reads []lookup
	for _, name := range e.order {
		ids := s.sorted(name)
		if len(ids) == 0 {
			continue
		}
		for _, src := range e.sources[name] {
			reads = append(reads, lookup{entity: src.entity, read: src.read(p, ids)})
		}
	}
	return reads
}

// readSources sends p (the look-ups of sourceReads) on conn, unless conn
// is nil (p is sent already), and plans a shared lock on every row they
// list.
func (e *Engine) readSources(ctx context.Context, conn DB, p *Pipeline, reads []lookup, l lockPlan) error {
	if err := e.lookUp(ctx, conn, p, reads, func(r lookup, id ID) { l.addShared(e.lockPrefix, r.entity, []ID{id}) }); err != nil {
		return fmt.Errorf("the rows to lock shared: %w", err)
	}
	return nil
}

// tryLock takes, in tx and without waiting, the locks of the ids of b that
// it can, and splits b into the part it locked and the part whose locks
// another transaction holds. It never waits, so it cannot deadlock.
func (e *Engine) tryLock(ctx context.Context, tx DB, b batch) (got, busy batch, err error) {
	l := lockPlan{}
	l.add(e.lockPrefix, b.ids)
	p := &Pipeline{}
	keys, _ := l.sorted()
	res := e.queries.SyncTryLock(ctx, p, [][]int64{keys})
	p.Send(ctx, tx)
	held := map[int64]bool{}
	res.Query(func(_ int, keys []int64, qerr error) {
		err = qerr
		for _, k := range keys {
			held[k] = true
		}
	})
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return batch{}, batch{}, fmt.Errorf("try sync locks: %w", err)
	}
	free, taken := idSet{}, idSet{}
	for name, m := range b.ids {
		eh := entityHash(name)
		for id := range m {
			if held[lockKey(e.lockPrefix, eh, id)] {
				taken.add(name, id)
			} else {
				free.add(name, id)
			}
		}
	}
	return b.sub(free), b.sub(taken), nil
}
