package sync

import (
	"cmp"
	"slices"
)

// idSet is a de-duplicated set of ids per entity.
type idSet map[string]map[ID]struct{}

// add inserts ids and reports how many were new.
func (s idSet) add(entity string, ids ...ID) int {
	m := s[entity]
	if m == nil {
		m = make(map[ID]struct{}, len(ids))
		s[entity] = m
	}
	n := len(m)
	for _, id := range ids {
		m[id] = struct{}{}
	}
	return len(m) - n
}

func (s idSet) size() int {
	n := 0
	for _, m := range s {
		n += len(m)
	}
	return n
}

func (s idSet) sorted(entity string) []ID {
	m := s[entity]
	ids := make([]ID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, ID.Compare)
	return ids
}

// has reports whether id of entity is in the set.
func (s idSet) has(entity string, id ID) bool {
	_, ok := s[entity][id]
	return ok
}

// queuedRow is one row of tvsync.sync_queue: a queued change of one id.
type queuedRow struct {
	seq     int64
	entity  string
	id      ID
	cascade bool
	// origin is the row's lineage (zero for a row a write queued).
	origin origin
}

// queued names changes left in the durable tvsync.sync_queue, by row: those
// a unit of work queued with its commit (enqueueAndCommit), or the
// dependents a sync inside a transaction queued there for after its commit
// (Report.queued). syncQueued syncs them and removes the rows; a Worker
// takes whatever it has not removed once the rows are due.
type queued struct {
	rows []queuedRow
}

// Len is how many queued rows q names.
func (q queued) Len() int { return len(q.rows) }

// changes returns the changes q's rows queued, one per row, in row order:
// to queue them again, ready at once, when no sync will follow the commit
// that makes them visible (a unit of work inside the application's own
// transaction).
func (q queued) changes() []Change {
	out := make([]Change, len(q.rows))
	for i, r := range q.rows {
		out[i] = Change{Entity: r.entity, IDs: []ID{r.id}, Cascade: r.cascade}
	}
	return out
}

// batch is what one level of a sync covers: the ids per entity, the seeds
// (ids whose cascades are followed whatever their refresh finds: changes
// recorded with Cascade), and the tvsync.sync_queue rows that queued them,
// which the sync removes once their ids are synced.
type batch struct {
	ids   idSet
	seeds idSet
	seqs  map[string]map[ID][]int64
	// origins holds the lineage of the rows that have one, by seq.
	origins map[int64]origin
}

func newBatch() batch {
	return batch{ids: idSet{}, seeds: idSet{}, seqs: map[string]map[ID][]int64{}, origins: map[int64]origin{}}
}

// addRows adds queued rows: their ids, seeds and seqs.
func (b batch) addRows(rows ...queuedRow) {
	for _, r := range rows {
		b.ids.add(r.entity, r.id)
		if r.cascade {
			b.seeds.add(r.entity, r.id)
		}
		m := b.seqs[r.entity]
		if m == nil {
			m = map[ID][]int64{}
			b.seqs[r.entity] = m
		}
		m[r.id] = append(m[r.id], r.seq)
		if !r.origin.none() {
			b.origins[r.seq] = r.origin
		}
	}
}

func (b batch) size() int { return b.ids.size() }

// rows returns the queued rows of the batch.
func (b batch) rows() []queuedRow {
	var out []queuedRow
	for name, m := range b.seqs {
		for id, seqs := range m {
			for _, s := range seqs {
				out = append(out, queuedRow{seq: s, entity: name, id: id, cascade: b.seeds.has(name, id), origin: b.origins[s]})
			}
		}
	}
	slices.SortFunc(out, func(a, b queuedRow) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// sub returns the part of b whose ids are in s.
func (b batch) sub(s idSet) batch {
	out := newBatch()
	for name, m := range s {
		for id := range m {
			out.ids.add(name, id)
			if b.seeds.has(name, id) {
				out.seeds.add(name, id)
			}
			if seqs := b.seqs[name][id]; len(seqs) > 0 {
				if out.seqs[name] == nil {
					out.seqs[name] = map[ID][]int64{}
				}
				out.seqs[name][id] = seqs
				for _, s := range seqs {
					if o, ok := b.origins[s]; ok {
						out.origins[s] = o
					}
				}
			}
		}
	}
	return out
}

// seqList returns the seqs of the rows queued for the ids of b, sorted.
func (b batch) seqList() []int64 {
	var out []int64
	for _, m := range b.seqs {
		for _, seqs := range m {
			out = append(out, seqs...)
		}
	}
	slices.Sort(out)
	return out
}
