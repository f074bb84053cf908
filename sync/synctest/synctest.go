// Package synctest provides a recording fake of sync.Syncer for unit tests
// of code that calls the sync API, so those tests run without a database:
// the Go counterpart of the seed's AsyncMock.
package synctest

import (
	"context"
	"slices"
	gosync "sync"

	"github.com/google/uuid"

	tvsync "github.com/tvsync/tvsync/sync"
)

// Call is one recorded call of the Syncer API.
type Call struct {
	// Method is the name of the method called ("SyncPost", "Sync", ...).
	Method string
	// Mode is the mode passed (ModeIncremental for the Delete methods).
	Mode tvsync.Mode
	// Changes are the changes the call asked for, in the form Sync takes.
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

func (r *Recorder) record(method string, mode tvsync.Mode, changes ...tvsync.Change) (tvsync.Report, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := make([]tvsync.Change, len(changes))
	for i, c := range changes {
		c.IDs = slices.Clone(c.IDs)
		cs[i] = c
	}
	r.calls = append(r.calls, Call{Method: method, Mode: mode, Changes: cs})
	return tvsync.Report{Mode: mode}, r.Err
}

// Calls returns a copy of the calls recorded so far, in order.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// CallsTo returns the recorded calls of one method, in order.
func (r *Recorder) CallsTo(method string) []Call {
	var out []Call
	for _, c := range r.Calls() {
		if c.Method == method {
			out = append(out, c)
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
	return r.record("Sync", mode, changes...)
}

// SyncPost records the call.
func (r *Recorder) SyncPost(_ context.Context, ids []uuid.UUID, mode tvsync.Mode) (tvsync.Report, error) {
	return r.record("SyncPost", mode, tvsync.Change{Entity: tvsync.EntityPost, IDs: tvsync.UUIDKeys(ids), Cascade: true})
}

// SyncUser records the call.
func (r *Recorder) SyncUser(_ context.Context, ids []uuid.UUID, mode tvsync.Mode) (tvsync.Report, error) {
	return r.record("SyncUser", mode, tvsync.Change{Entity: tvsync.EntityUser, IDs: tvsync.UUIDKeys(ids), Cascade: true})
}

// SyncComment records the call.
func (r *Recorder) SyncComment(_ context.Context, ids []uuid.UUID, mode tvsync.Mode) (tvsync.Report, error) {
	return r.record("SyncComment", mode, tvsync.Change{Entity: tvsync.EntityComment, IDs: tvsync.UUIDKeys(ids), Cascade: true})
}

// DeletePost records the call.
func (r *Recorder) DeletePost(_ context.Context, ids []uuid.UUID) (tvsync.Report, error) {
	return r.record("DeletePost", tvsync.ModeIncremental, tvsync.Change{Entity: tvsync.EntityPost, IDs: tvsync.UUIDKeys(ids)})
}

// DeleteUser records the call.
func (r *Recorder) DeleteUser(_ context.Context, ids []uuid.UUID) (tvsync.Report, error) {
	return r.record("DeleteUser", tvsync.ModeIncremental, tvsync.Change{Entity: tvsync.EntityUser, IDs: tvsync.UUIDKeys(ids)})
}

// DeleteComment records the call.
func (r *Recorder) DeleteComment(_ context.Context, ids []uuid.UUID) (tvsync.Report, error) {
	return r.record("DeleteComment", tvsync.ModeIncremental, tvsync.Change{Entity: tvsync.EntityComment, IDs: tvsync.UUIDKeys(ids)})
}
