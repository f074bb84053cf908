package sync

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	gosync "sync"
	"time"
)

// EntityResult is the outcome of syncing a batch of one entity's ids.
type EntityResult struct {
	Entity string
	Mode   Mode
	// Requested is how many distinct ids were synced, cascades included.
	Requested int
	// Upserted is how many tv_ rows were inserted or changed.
	Upserted int
	// Unchanged is how many ids exist but whose tv_ row already matched.
	Unchanged int
	// Deleted is how many tv_ rows were removed because their tb_ row is gone.
	Deleted int
	// Missing is how many requested ids have no tb_ row (deleted ones included).
	Missing int
	// Failed is how many ids could not be synced; FailedIDs lists them.
	Failed    int
	FailedIDs []ID
	// Err is the error of the failed ids, empty when none failed.
	Err string
	// StartedAt is when the batch started; Duration is the time the
	// database spent on the entity's statements.
	StartedAt time.Time
	Duration  time.Duration
}

func (r *EntityResult) add(o EntityResult) {
	r.Requested += o.Requested
	r.Upserted += o.Upserted
	r.Unchanged += o.Unchanged
	r.Deleted += o.Deleted
	r.Missing += o.Missing
	r.Failed += o.Failed
	r.FailedIDs = append(r.FailedIDs, o.FailedIDs...)
	if r.Err == "" {
		r.Err = o.Err
	}
	if r.StartedAt.IsZero() || (!o.StartedAt.IsZero() && o.StartedAt.Before(r.StartedAt)) {
		r.StartedAt = o.StartedAt
	}
	r.Duration += o.Duration
}

// Report is the outcome of one Sync call: a result per entity touched.
type Report struct {
	Mode Mode
	// Results holds one entry per entity synced, sorted by entity name.
	Results []EntityResult
	// Duration is the wall time of the whole call.
	Duration time.Duration
	// queued names the rows a sync inside a transaction (syncTx) queued
	// there for after its commit: the dependents of the documents it
	// changed, and whatever did not fit in Config.InlineLimit. A unit of
	// work syncs them with syncQueued once the transaction has committed.
	queued queued
}

// For returns the result of the named entity (zero when it was not synced).
func (r Report) For(entity string) EntityResult {
	for _, res := range r.Results {
		if res.Entity == entity {
			return res
		}
	}
	return EntityResult{Entity: entity, Mode: r.Mode}
}

// Failed is the total number of ids that failed across entities.
func (r Report) Failed() int {
	n := 0
	for _, res := range r.Results {
		n += res.Failed
	}
	return n
}

func (r *Report) merge(res EntityResult) {
	for i := range r.Results {
		if r.Results[i].Entity == res.Entity {
			r.Results[i].add(res)
			return
		}
	}
	r.Results = append(r.Results, res)
	slices.SortFunc(r.Results, func(a, b EntityResult) int { return cmp.Compare(a.Entity, b.Entity) })
}

// FailedError reports ids that could not be synced while the rest of the
// batch was. It unwraps to ErrSyncFailed and to the first database error.
type FailedError struct {
	// IDs lists the failed ids per entity.
	IDs map[string][]ID
	// Cause is the first error met.
	Cause error

	mu gosync.Mutex
}

// record adds a failed id; it is safe for concurrent use.
func (e *FailedError) record(entity string, id ID, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.IDs[entity] = append(e.IDs[entity], id)
	if e.Cause == nil {
		e.Cause = err
	}
}

// Error names the failed ids (the first few of each entity) and the cause.
func (e *FailedError) Error() string {
	var b strings.Builder
	n := 0
	for _, ids := range e.IDs {
		n += len(ids)
	}
	fmt.Fprintf(&b, "tvsync: %d id(s) failed to sync", n)
	names := make([]string, 0, len(e.IDs))
	for name := range e.IDs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		ids := e.IDs[name]
		shown := ids[:min(len(ids), 5)]
		strs := make([]string, len(shown))
		for i, id := range shown {
			strs[i] = id.String()
		}
		more := ""
		if len(ids) > len(shown) {
			more = fmt.Sprintf(" and %d more", len(ids)-len(shown))
		}
		fmt.Fprintf(&b, "; %s: %s%s", name, strings.Join(strs, ", "), more)
	}
	if e.Cause != nil {
		fmt.Fprintf(&b, ": %v", e.Cause)
	}
	return b.String()
}

// Unwrap returns ErrSyncFailed and the cause.
func (e *FailedError) Unwrap() []error { return []error{ErrSyncFailed, e.Cause} }
