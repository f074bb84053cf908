package syncuow_test

import (
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/internal/engineapi"
)

// The engine's queue protocol and the worker's single batch (package
// engineapi), for the tests that play a part of the unit of work or the
// worker by hand.
var (
	queue     = engineapi.Get[engineapi.Engine[*tvsync.Engine, tvsync.Beginner, tvsync.DB, tvsync.Change, tvsync.Token]]()
	drainOnce = engineapi.Get[engineapi.Workers[*tvsync.Worker, tvsync.DrainResult]]().DrainOnce
)
