package sync

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// savepointSeq numbers the savepoints of attempts, so that each has a name
// of its own whatever else the transaction holds.
var savepointSeq atomic.Uint64

// savepoint is a savepoint of a transaction whose SAVEPOINT statement rides
// in the first pipeline of an attempt (Pipeline.SendInSavepoint) and whose
// RELEASE rides in its last (see finish), instead of a round trip each as a
// pgx nested transaction takes. Statements run in the parent; Commit
// releases the savepoint, Rollback rolls back to it and releases it. Either
// is a no-op once one has run.
type savepoint struct {
	pgx.Tx // the parent transaction
	name   string
	ended  bool
}

// newSavepoint names a savepoint of parent; nothing is sent yet.
func newSavepoint(parent pgx.Tx) *savepoint {
	return &savepoint{Tx: parent, name: fmt.Sprintf("tvsync_attempt_%d", savepointSeq.Add(1))}
}

// releaseSQL is the statement that releases the savepoint, to queue in a
// pipeline; call released once it has succeeded.
func (s *savepoint) releaseSQL() string { return "RELEASE SAVEPOINT " + s.name }

// released records that the RELEASE queued by the caller succeeded.
func (s *savepoint) released() { s.ended = true }

// Commit releases the savepoint.
func (s *savepoint) Commit(ctx context.Context) error {
	if s.ended {
		return nil
	}
	s.ended = true
	if _, err := s.Tx.Exec(ctx, s.releaseSQL()); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// Rollback rolls the parent back to the savepoint and releases it, so that
// the parent can go on.
func (s *savepoint) Rollback(ctx context.Context) error {
	if s.ended {
		return nil
	}
	s.ended = true
	if _, err := s.Tx.Exec(ctx, "ROLLBACK TO SAVEPOINT "+s.name); err != nil {
		return fmt.Errorf("roll back to savepoint: %w", err)
	}
	if _, err := s.Tx.Exec(ctx, s.releaseSQL()); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}
