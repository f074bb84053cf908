package syncuow

import (
	"context"
	"errors"
	"fmt"
	"time"

	tvsync "github.com/tvsync/tvsync/sync"
)

// Schedule asks for changes to be synced again at a given time, on the unit
// of work's transaction, so atomically with its writes: for a document that
// depends on the clock (an order late to ship after its promised date, a
// loan overdue), which goes stale with no write. It is Engine.Schedule on
// Tx, in every mode: the queue rows commit (or roll back) with the unit of
// work, and nothing it records, nor its own sync (after commit or inline),
// cancels them; a Worker syncs them once at has come. A time in the past
// schedules a sync as soon as a Worker runs. In a nested unit of work the
// rows go with its savepoint. It fails with ErrDone once Run's fn has
// returned.
func (w *Work) Schedule(ctx context.Context, at time.Time, changes ...tvsync.Change) error {
	if w.engine == nil {
		return errors.New("syncuow: Schedule on a Work not made by a Runner")
	}
	if err := w.engine.Schedule(ctx, w.Tx(), at, changes...); err != nil {
		return fmt.Errorf("syncuow: schedule a re-sync at %s of %s: %w", at.UTC().Format(time.RFC3339), describe(changes), err)
	}
	return nil
}

// RecordBeforeDelete looks up, on the unit of work's transaction, what a
// delete of the changes' ids will leave stale and cannot be found once the
// rows are gone, and records it with the changes: Engine.Expand, over the
// look-ups of the cascades the entities registered (those tvsync gen writes
// from the paths declared in tvsync.yaml). Call it before the delete, with
// the rows to delete locked (SELECT … FOR UPDATE), so that nothing starts
// referencing them in between. On error nothing is recorded.
func (w *Work) RecordBeforeDelete(ctx context.Context, changes ...tvsync.Change) error {
	if w.engine == nil {
		return errors.New("syncuow: RecordBeforeDelete on a Work not made by a Runner")
	}
	found, err := w.engine.Expand(ctx, w.Tx(), changes...)
	if err != nil {
		return fmt.Errorf("syncuow: look up what a delete of %s leaves stale: %w", describe(changes), err)
	}
	w.Record(found...)
	return nil
}

// RecordCascades looks up, on the unit of work's transaction, the documents
// that embed rows ids of a table without a document of its own (a link
// table, a table of lines, a lookup table), through cascades (the
// XCascades() tvsync gen writes for a table declared under tables: in
// tvsync.yaml), and records them: the sync then refreshes them, and
// cascades from those that change. Call it after inserting or updating the
// rows and before deleting them (the look-ups read the rows; for an update
// that moves a row to another document, before and after). No ids, or no
// cascades, record nothing. On error nothing is recorded.
func (w *Work) RecordCascades(ctx context.Context, cascades []tvsync.Cascade, ids ...tvsync.ID) error {
	if len(ids) == 0 || len(cascades) == 0 {
		return nil
	}
	p := &tvsync.Pipeline{}
	reads := make([]func() ([]tvsync.ID, error), len(cascades))
	for i, c := range cascades {
		if c.Lookup == nil {
			return fmt.Errorf("syncuow: RecordCascades: the cascade to %q has no Lookup", c.Entity)
		}
		reads[i] = c.Lookup(p, ids)
	}
	p.Send(ctx, w.Tx())
	found := make([]tvsync.Change, 0, len(cascades))
	for i, read := range reads {
		got, err := read()
		if err != nil {
			_ = p.Close()
			return fmt.Errorf("syncuow: look up the %s documents that embed %d changed rows: %w", cascades[i].Entity, len(ids), err)
		}
		if len(got) > 0 {
			found = append(found, tvsync.Change{Entity: cascades[i].Entity, IDs: got})
		}
	}
	if err := p.Close(); err != nil {
		return fmt.Errorf("syncuow: look up the documents that embed %d changed rows: %w", len(ids), err)
	}
	w.Record(found...)
	return nil
}
