package sync

import "context"

// Syncer is the sync API that application code calls, as in the seed: one
// generic call that brings the tv_ rows of changes of any registered entity
// up to date. The Engine implements it; unit tests of services substitute a
// fake (see package synctest). A domain adds typed helpers over it (the
// blog's are in package blog).
type Syncer interface {
	// Sync brings the tv_ rows of the changes up to date in mode.
	Sync(ctx context.Context, mode Mode, changes ...Change) (Report, error)
}

var _ Syncer = (*Engine)(nil)
