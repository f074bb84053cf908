package sync

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	gosync "sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// FullOptions tunes FullSync. The zero value is usable.
type FullOptions struct {
	// ChunkSize is how many ids each transaction syncs (and locks, one
	// advisory lock each); zero means the engine's BatchSize, negative is an
	// error of FullSync. Workers × ChunkSize locks are held at once: see
	// Config.BatchSize.
	ChunkSize int
	// Workers is how many chunks are synced at once; zero means GOMAXPROCS,
	// negative is an error of FullSync.
	Workers int
	// Progress, if set, is called after each chunk with the number of ids
	// processed so far. It is called from one goroutine at a time.
	Progress func(done int)
}

// FullSync rebuilds every tv_ row of entity: it walks the command table's
// ids in keyset-paginated chunks (from minID on) and syncs each chunk in its
// own transaction (Workers chunks at a time), under the advisory locks of
// the chunk's ids, then walks the tv_ table and deletes the rows whose
// command row is gone. An entity with range statements finds those in the
// same walk: each chunk covers a keyset range, and syncs the command and
// tv_ ids listed in it. Chunks lock disjoint ids, so they never wait for each
// other, whatever the order of the keys. Memory stays bounded by the chunk
// size whatever the table size. Cascades are not followed: a full sync of
// each entity is what rebuilds everything.
func (e *Engine) FullSync(ctx context.Context, entity string, opts FullOptions) (Report, error) {
	start := time.Now()
	report := Report{Mode: ModeFull}
	ent, err := e.entity(entity)
	if err != nil {
		return report, err
	}
	if err := opts.validate(); err != nil {
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
		failed = &FailedError{IDs: map[string][]ID{}}
	)
	ranged := ent.RefreshRange != nil
	walk := func(next func(context.Context, ID) (page, error), o ops) error {
		g, gctx := errgroup.WithContext(ctx)
		pages := make(chan page, opts.Workers)
		g.Go(func() error {
			defer close(pages)
			after := minID(ent.Key)
			for {
				pg, err := next(gctx, after)
				if err != nil {
					return fmt.Errorf("full sync %s: %w", entity, err)
				}
				if pg.empty() {
					return nil
				}
				select {
				case pages <- pg:
				case <-gctx.Done():
					return gctx.Err()
				}
				if pg.span[1] == maxID(ent.Key) {
					return nil // the last page reaches past the last id
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
					chunk := idSet{}
					chunk.add(entity, pg.ids...)
					chunk.add(entity, pg.viewIDs...)
					var part Report
					if _, err := e.isolate(gctx, j, newBatch().sub(chunk), nil, &part, failed); err != nil {
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
	if ranged {
		err = walk(func(ctx context.Context, after ID) (page, error) {
			return e.rangePage(ctx, ent, after, opts.ChunkSize)
		}, opRefresh|opDelete)
	} else {
		err = walk(listPage(e, ent, ent.IDsAfter, opts.ChunkSize), opRefresh|opDelete)
		if err == nil {
			// Orphans: tv_ rows whose command row is gone.
			err = walk(listPage(e, ent, ent.ViewIDsAfter, opts.ChunkSize), opDelete)
		}
	}
	report.Duration = time.Since(start)
	if err != nil {
		return report, err
	}
	if len(failed.IDs) > 0 {
		return report, failed
	}
	return report, nil
}

// page is one chunk of a full sync: the command-side ids listed in the
// keyset range span (after, upto], and, by range, the tv_-side ids too.
type page struct {
	ids, viewIDs []ID
	span         [2]ID
}

func (p page) empty() bool { return len(p.ids) == 0 && len(p.viewIDs) == 0 }

// listPage returns the pager of a walk by id lists over list.
func listPage(e *Engine, ent *Entity, list func(context.Context, DB, ID, int) ([]ID, error), chunk int) func(context.Context, ID) (page, error) {
	return func(ctx context.Context, after ID) (page, error) {
		limit := pageLimit(ent.Key, after, chunk)
		ids, err := list(ctx, e.pool, after, limit)
		if err != nil {
			return page{}, fmt.Errorf("list ids after %s: %w", after, err)
		}
		if err := e.checkKinds(ent, ids); err != nil {
			return page{}, fmt.Errorf("list ids after %s: %w", after, err)
		}
		pg := page{ids: ids, span: [2]ID{after, maxID(ent.Key)}}
		if len(ids) == limit {
			pg.span[1] = ids[len(ids)-1]
		}
		return pg, nil
	}
}

// rangePage lists the next chunk of a walk by range: up to chunk command
// ids after the cursor, and the tv_ ids of the same range. The range ends at
// the last command id listed, or earlier when the tv_ side holds more ids
// there (orphans); the last range ends at maxID.
func (e *Engine) rangePage(ctx context.Context, ent *Entity, after ID, chunk int) (page, error) {
	limit := pageLimit(ent.Key, after, chunk)
	ids, err := ent.IDsAfter(ctx, e.pool, after, limit)
	if err != nil {
		return page{}, fmt.Errorf("list ids after %s: %w", after, err)
	}
	view, err := ent.ViewIDsAfter(ctx, e.pool, after, limit)
	if err != nil {
		return page{}, fmt.Errorf("list %s ids after %s: %w", ent.View, after, err)
	}
	if err := e.checkKinds(ent, append(ids[:len(ids):len(ids)], view...)); err != nil {
		return page{}, fmt.Errorf("list ids after %s: %w", after, err)
	}
	upto := maxID(ent.Key)
	if len(ids) == limit {
		upto = ids[len(ids)-1]
	}
	if len(view) == limit && view[len(view)-1].Compare(upto) < 0 {
		upto = view[len(view)-1]
	}
	cut := func(ids []ID) []ID {
		return ids[:sort.Search(len(ids), func(i int) bool { return ids[i].Compare(upto) > 0 })]
	}
	return page{ids: cut(ids), viewIDs: cut(view), span: [2]ID{after, upto}}, nil
}
