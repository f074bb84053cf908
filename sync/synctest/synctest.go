// Package synctest provides a recording fake of sync.Syncer for unit tests
// of code that calls the sync API, so those tests run without a database:
// the Go counterpart of the seed's AsyncMock.
package synctest

import (
	"context"
	"slices"
	gosync "sync"

	tvsync "github.com/tvsync/tvsync/sync"
)

// Call is one recorded call of Syncer.Sync.
type Call struct {
	// Mode is the mode passed.
	Mode tvsync.Mode
	// Changes are the changes the call asked for (their IDs copied).
	Changes []tvsync.Change
}

// Recorder is a sync.Syncer that records every call and syncs nothing. It is
// safe for concurrent use. Set Err to make every call fail with it.
type Recorder struct {
	// Err, if set, is returned by every call (after recording it).
	Err error

	mu    gosync.Mutex
	calls []Call
}

var _ tvsync.Syncer = (*Recorder)(nil)

func (r *Recorder) record(mode tvsync.Mode, changes ...tvsync.Change) (tvsync.Report, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := make([]tvsync.Change, len(changes))
	for i, c := range changes {
		c.IDs = slices.Clone(c.IDs)
		cs[i] = c
	}
	r.calls = append(r.calls, Call{Mode: mode, Changes: cs})
	return tvsync.Report{Mode: mode}, r.Err
}

// Calls returns a copy of the calls recorded so far, in order.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// CallsFor returns the recorded calls with at least one change of entity,
// in order.
func (r *Recorder) CallsFor(entity string) []Call {
	var out []Call
	for _, c := range r.Calls() {
		if slices.ContainsFunc(c.Changes, func(ch tvsync.Change) bool { return ch.Entity == entity }) {
			out = append(out, c)
		}
	}
	return out
}

// ChangesFor returns the recorded changes of entity across every call, in
// order.
func (r *Recorder) ChangesFor(entity string) []tvsync.Change {
	var out []tvsync.Change
	for _, c := range r.Calls() {
		for _, ch := range c.Changes {
			if ch.Entity == entity {
				out = append(out, ch)
			}
		}
	}
	return out
}

// Reset forgets the recorded calls.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

// Sync records the call.
func (r *Recorder) Sync(_ context.Context, mode tvsync.Mode, changes ...tvsync.Change) (tvsync.Report, error) {
	return r.record(mode, changes...)
}
