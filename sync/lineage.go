package sync

// Lineage: how a waiter on a unit of work's queued rows (see WaitFor) also
// waits for the dependents that syncs of those rows queue, level after
// level, as new rows with new seqs.
//
// Every row a sync queues for a dependent it found carries an origin, the
// range [lo, hi] of seqs it may descend from (tvsync.sync_queue's origin_lo
// and origin_hi): the hull of the seqs and origins of every row of the level
// that sync covered. A level, not a chunk: a dependent found by two chunks
// of one level is queued once, by the first, and must carry the lineage of
// both. By induction, a row queued because of the row of seq s, however far
// down a chain of cascades, has s in its origin, or is s; a waiter on s is
// done when no row of its namespace has seq s or an origin containing s,
// which one statement can check (WaitPending). The sync that removes a
// row queues its dependents in the same transaction, so no snapshot sees
// neither. The hull may contain unrelated seqs (other units of work synced
// in the same batch): their waiters then wait for a little more, never for
// less.

// origin is a range of seqs a queued row may descend from; the zero value
// is no lineage (a row a write queued: its own origin).
type origin struct{ lo, hi int64 }

// none reports whether o is no lineage.
func (o origin) none() bool { return o.lo == 0 && o.hi == 0 }

// with returns the hull of o and the range [lo, hi].
func (o origin) with(lo, hi int64) origin {
	if o.none() {
		return origin{lo, hi}
	}
	return origin{min(o.lo, lo), max(o.hi, hi)}
}

// lineage returns the origin of the dependents a sync of b queues: the hull
// of b's seqs and of their rows' origins; zero when b holds no queued row
// (a sync of changes that were never queued).
func (b batch) lineage() origin {
	var o origin
	for _, m := range b.seqs {
		for _, seqs := range m {
			for _, s := range seqs {
				o = o.with(s, s)
				if r, ok := b.origins[s]; ok {
					o = o.with(r.lo, r.hi)
				}
			}
		}
	}
	return o
}
