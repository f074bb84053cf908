package sync

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sort"
	gosync "sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
)

// FullOptions tunes FullSync. The zero value is usable.
type FullOptions struct {
	// ChunkSize is how many ids each transaction syncs; zero means the
	// engine's BatchSize.
	ChunkSize int
	// Workers is how many chunks are synced at once; zero means GOMAXPROCS.
	Workers int
	// Progress, if set, is called after each chunk with the number of ids
	// processed so far. It is called from one goroutine at a time.
	Progress func(done int)
}

// FullSync rebuilds every tv_ row of entity: it walks the command table's
// ids in keyset-paginated chunks (from the all-zero id on) and refreshes each chunk in its own
// transaction (Workers chunks at a time), then walks the tv_ table and
// deletes the rows whose command row is gone. Memory stays bounded by the
// chunk size whatever the table size. Cascades are not followed: a full
// sync of each entity is what rebuilds everything.
func (e *Engine) FullSync(ctx context.Context, entity string, opts FullOptions) (Report, error) {
	start := time.Now()
	report := Report{Mode: ModeFull}
	ent, err := e.Entity(entity)
	if err != nil {
		return report, err
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = e.cfg.BatchSize
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	var (
		mu     gosync.Mutex
		done   int
		failed = &FailedError{IDs: map[string][]uuid.UUID{}}
	)
	ranged := ent.RefreshRange != nil
	walk := func(list func(context.Context, DB, uuid.UUID, int) ([]uuid.UUID, error), o ops) error {
		g, gctx := errgroup.WithContext(ctx)
		type page struct {
			ids  []uuid.UUID
			span [2]uuid.UUID
		}
		pages := make(chan page, opts.Workers)
		g.Go(func() error {
			defer close(pages)
			var after uuid.UUID
			for {
				limit := pageLimit(after, opts.ChunkSize)
				ids, err := list(gctx, e.pool, after, limit)
				if err != nil {
					return fmt.Errorf("full sync %s: list ids after %s: %w", entity, after, err)
				}
				pg := page{ids: ids, span: [2]uuid.UUID{after, maxUUID}}
				if len(ids) == limit {
					pg.span[1] = ids[len(ids)-1]
					if ranged {
						// End the range at a super-bucket boundary, so that
						// chunks synced at once lock disjoint super-buckets.
						if b := superBucket(pg.span[1]); b > 0 && superBucket(ids[0]) < b {
							end := superEnd(b - 1)
							pg.span[1] = end
							n := sort.Search(len(ids), func(i int) bool { return bytes.Compare(ids[i][:], end[:]) > 0 })
							pg.ids = ids[:n]
						}
					}
				}
				if len(ids) == 0 && !ranged {
					return nil
				}
				select {
				case pages <- pg:
				case <-gctx.Done():
					return gctx.Err()
				}
				if pg.span[1] == maxUUID {
					return nil // by range, the last page reaches past the last id
				}
				after = pg.span[1]
			}
		})
		for range opts.Workers {
			g.Go(func() error {
				for pg := range pages {
					j := job{mode: ModeFull, ops: o}
					if ranged {
						j.span, j.spanEntity = &pg.span, entity
					}
					var part Report
					if err := e.isolate(gctx, j, idSet{entity: toSet(pg.ids)}, &part, failed); err != nil {
						return fmt.Errorf("full sync %s: %w", entity, err)
					}
					mu.Lock()
					for _, r := range part.Results {
						report.merge(r)
					}
					if o&opRefresh != 0 && len(pg.ids) > 0 {
						done += len(pg.ids)
						if opts.Progress != nil {
							opts.Progress(done)
						}
					}
					mu.Unlock()
				}
				return nil
			})
		}
		return g.Wait()
	}
	if err := walk(ent.IDsAfter, opRefresh|opDelete); err != nil {
		report.Duration = time.Since(start)
		return report, err
	}
	if !ranged {
		// Orphans: tv_ rows whose command row is gone.
		if err := walk(ent.ViewIDsAfter, opDelete); err != nil {
			report.Duration = time.Since(start)
			return report, err
		}
	}
	report.Duration = time.Since(start)
	if len(failed.IDs) > 0 {
		return report, failed
	}
	return report, nil
}

func toSet(ids []uuid.UUID) map[uuid.UUID]struct{} {
	m := make(map[uuid.UUID]struct{}, len(ids))
	for _, id := range ids {
		m[id] = struct{}{}
	}
	return m
}
