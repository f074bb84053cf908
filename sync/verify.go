package sync

import (
	"context"
	"fmt"
	"runtime"
	gosync "sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Drift kinds reported by Verify.
const (
	// DriftMissing is a command row with no tv_ row.
	DriftMissing = "missing"
	// DriftStale is a tv_ row whose document differs from its definition.
	DriftStale = "stale"
	// DriftOrphaned is a tv_ row whose command row is gone.
	DriftOrphaned = "orphaned"
)

// Drift is one tv_ row that does not match its definition.
type Drift struct {
	ID   ID
	Kind string // DriftMissing, DriftStale or DriftOrphaned
}

// VerifyOptions tunes Verify. The zero value is usable.
type VerifyOptions struct {
	// ChunkSize is how many command rows each comparison covers; zero means
	// the engine's BatchSize, negative is an error of Verify.
	ChunkSize int
	// Workers is how many chunks are compared at once; zero means
	// GOMAXPROCS, negative is an error of Verify.
	Workers int
	// Repair syncs (in ModeRepair) exactly the drifted rows of each chunk
	// as soon as they are found.
	Repair bool
	// Samples is how many drifted ids per kind to keep; zero means 5,
	// negative is an error of Verify.
	Samples int
	// Progress, if set, is called after each chunk with the number of
	// command rows checked so far, from one goroutine at a time.
	Progress func(checked int)
}

// VerifyResult is the drift found in one entity.
type VerifyResult struct {
	Entity   string
	Checked  int // command rows compared
	Missing  int
	Stale    int
	Orphaned int
	// Samples holds up to VerifyOptions.Samples ids per kind, in id order
	// within each chunk.
	Samples map[string][]ID
	// Repaired is how many drifted rows the repair synced.
	Repaired int
	Duration time.Duration
}

// Drifted is the total number of drifted rows.
func (r VerifyResult) Drifted() int { return r.Missing + r.Stale + r.Orphaned }

// Verify recomputes every tv_ row of entity from its definition, set-based
// and chunk by chunk over id ranges (never loading a table into memory), and
// reports the rows that are missing, stale or orphaned. With Repair set it
// syncs exactly those rows. The comparison reads a consistent snapshot per
// chunk; rows written while it runs may show as drift that a concurrent
// sync is about to fix, so verify a quiet system, or repair.
func (e *Engine) Verify(ctx context.Context, entity string, opts VerifyOptions) (VerifyResult, error) {
	start := time.Now()
	res := VerifyResult{Entity: entity, Samples: map[string][]ID{}}
	ent, err := e.entity(entity)
	if err != nil {
		return res, err
	}
	if ent.Verify == nil {
		return res, fmt.Errorf("tvsync: entity %q registers no Verify statement", entity)
	}
	if err := opts.validate(); err != nil {
		return res, err
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = e.cfg.BatchSize
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Samples <= 0 {
		opts.Samples = 5
	}
	type span struct {
		after, upto ID
		rows        int
	}
	var mu gosync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	spans := make(chan span, opts.Workers)
	g.Go(func() error {
		defer close(spans)
		after := minID(ent.Key)
		for {
			limit := pageLimit(ent.Key, after, opts.ChunkSize)
			ids, err := ent.IDsAfter(gctx, e.pool, after, limit)
			if err != nil {
				return fmt.Errorf("verify %s: list ids after %s: %w", entity, after, err)
			}
			s := span{after: after, upto: maxID(ent.Key), rows: len(ids)}
			if len(ids) == limit {
				s.upto = ids[len(ids)-1]
			}
			select {
			case spans <- s:
			case <-gctx.Done():
				return gctx.Err()
			}
			if s.upto == maxID(ent.Key) {
				return nil
			}
			after = s.upto
		}
	})
	for range opts.Workers {
		g.Go(func() error {
			for s := range spans {
				drift, err := ent.Verify(gctx, e.pool, s.after, s.upto)
				if err != nil {
					return fmt.Errorf("verify %s ids in (%s, %s]: %w", entity, s.after, s.upto, err)
				}
				repaired := 0
				if opts.Repair && len(drift) > 0 {
					ids := make([]ID, len(drift))
					for i, d := range drift {
						ids[i] = d.ID
					}
					report, err := e.Sync(gctx, ModeRepair, Change{Entity: entity, IDs: ids})
					if err != nil {
						return fmt.Errorf("repair %s: %w", entity, err)
					}
					r := report.For(entity)
					repaired = r.Upserted + r.Deleted
				}
				mu.Lock()
				res.Checked += s.rows
				res.Repaired += repaired
				if opts.Progress != nil {
					opts.Progress(res.Checked)
				}
				for _, d := range drift {
					switch d.Kind {
					case DriftMissing:
						res.Missing++
					case DriftStale:
						res.Stale++
					case DriftOrphaned:
						res.Orphaned++
					}
					if len(res.Samples[d.Kind]) < opts.Samples {
						res.Samples[d.Kind] = append(res.Samples[d.Kind], d.ID)
					}
				}
				mu.Unlock()
			}
			return nil
		})
	}
	err = g.Wait()
	res.Duration = time.Since(start)
	if err == nil && res.Drifted() > 0 {
		e.log.WarnContext(ctx, "tvsync: drift found", "entity", entity, "missing", res.Missing, "stale", res.Stale,
			"orphaned", res.Orphaned, "repaired", res.Repaired)
	}
	return res, err
}
