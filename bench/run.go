package bench

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"
)

// Plan says how much of each measurement to run. DefaultPlan gives the one
// `make bench` uses for each scale.
type Plan struct {
	// BatchSizes and BatchRuns: batch sync (measurement 1).
	BatchSizes []int
	BatchRuns  int
	// Write path (2): bulk transactions of WriteBulkComments comments over
	// WriteBulkPosts posts, and WriteSingle one-comment transactions, per
	// run.
	WriteBulkComments, WriteBulkPosts, WriteSingle, WriteRuns int
	// Full rebuild (3) from each of FullStates.
	FullStates []string
	FullRuns   int
	// PeakRSS runs the child-process full sync for its peak memory.
	PeakRSS bool
	// Read path (4).
	Readers, PerReader, ReadRuns int
	// Deferred lag (5): LagRate writes/s for LagFor with LagWorkers
	// workers, after plain writes at the same rate for LagPlainFor.
	LagRate             float64
	LagFor, LagPlainFor time.Duration
	LagWorkers          int
	// Refresh plan crossover: batch sizes (0 means all posts).
	WideSizes []int
	WideRuns  int
	// OnlyFull runs only the full rebuild and the peak RSS.
	OnlyFull bool
	// Skip* leave a measurement out.
	SkipBatch, SkipWrite, SkipFull, SkipRead, SkipLag, SkipWide bool
}

// DefaultPlan returns the plan for scale: everything on the main scale
// (sized to finish in under 10 minutes on 2 cores), only the full rebuild
// and peak RSS on the 1M scale, everything small on the tiny scale.
func DefaultPlan(scale Scale) Plan {
	switch scale.Name {
	case Scale1M.Name:
		return Plan{FullStates: []string{StateEmpty, StateCurrent}, FullRuns: 1, PeakRSS: true, OnlyFull: true}
	case ScaleTiny.Name:
		return Plan{
			BatchSizes: []int{1, 10, 100}, BatchRuns: 2,
			WriteBulkComments: 50, WriteBulkPosts: 10, WriteSingle: 3, WriteRuns: 1,
			FullStates: []string{StateEmpty, StateStale, StateCurrent}, FullRuns: 1,
			Readers: 8, PerReader: 10, ReadRuns: 1,
			LagRate: 100, LagFor: 300 * time.Millisecond, LagPlainFor: 100 * time.Millisecond, LagWorkers: 2,
			WideSizes: []int{10, 0}, WideRuns: 1,
		}
	}
	return Plan{
		BatchSizes: []int{1, 10, 100, 1000}, BatchRuns: 7,
		WriteBulkComments: 1000, WriteBulkPosts: 100, WriteSingle: 100, WriteRuns: 5,
		FullStates: []string{StateEmpty, StateStale, StateCurrent}, FullRuns: 3, PeakRSS: true,
		Readers: 8, PerReader: 1000, ReadRuns: 3,
		LagRate: 500, LagFor: 10 * time.Second, LagPlainFor: 5 * time.Second, LagWorkers: 2,
		WideSizes: []int{1000, 5000, 20000, 0}, WideRuns: 2,
	}
}

// Config configures Run.
type Config struct {
	// AdminURL is an administrative connection to the server (see Options).
	AdminURL string
	// Scale is the data set; the zero value means ScaleMain.
	Scale Scale
	// Plan is what to run; the zero value means DefaultPlan(Scale).
	Plan *Plan
	// TvsyncBin is a tvsync executable for the peak RSS measurement; empty
	// skips it.
	TvsyncBin string
	// Logger receives progress lines; nil discards them.
	Logger *slog.Logger
}

// Results holds every measurement of one Run; a measurement not run is nil.
type Results struct {
	Scale         Scale
	ServerVersion string
	Started       time.Time
	Took          time.Duration
	Setup         []Phase
	GOMAXPROCS    int
	Batch         *BatchResult
	Write         *WriteResult
	Full          *FullResult
	Read          *ReadResult
	Lag           *LagResult
	Wide          *WideResult
	// PostCount is the number of posts ("all" in the crossover).
	PostCount int
}

// Run sets up the data set of cfg.Scale and runs the plan's measurements
// in order, logging progress; the databases it created are dropped before
// it returns.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Scale.Name == "" {
		cfg.Scale = ScaleMain
	}
	plan := DefaultPlan(cfg.Scale)
	if cfg.Plan != nil {
		plan = *cfg.Plan
	}
	if plan.OnlyFull {
		plan.SkipBatch, plan.SkipWrite, plan.SkipRead, plan.SkipLag, plan.SkipWide = true, true, true, true, true
	}
	res := &Results{Scale: cfg.Scale, Started: time.Now(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	env, err := Setup(ctx, Options{AdminURL: cfg.AdminURL, Scale: cfg.Scale, Logger: logger,
		NoWriteClone: plan.SkipWrite && plan.SkipLag})
	if err != nil {
		return nil, err
	}
	defer env.Close()
	res.ServerVersion, res.Setup, res.PostCount = env.ServerVersion, env.SetupTimes, len(env.PostIDs)

	step := func(name string, skip bool, fn func() error) error {
		if skip {
			return nil
		}
		logger.InfoContext(ctx, "bench: measuring "+name)
		start := time.Now()
		if err := fn(); err != nil {
			return fmt.Errorf("bench: %s: %w", name, err)
		}
		logger.InfoContext(ctx, "bench: measured "+name, slog.Duration("took", time.Since(start).Round(time.Millisecond)))
		return nil
	}
	steps := []struct {
		name string
		skip bool
		fn   func() error
	}{
		{"1. batch sync", plan.SkipBatch, func() error {
			r, err := MeasureBatchSync(ctx, env, plan.BatchSizes, plan.BatchRuns)
			res.Batch = &r
			return err
		}},
		{"2. write path", plan.SkipWrite, func() error {
			r, err := MeasureWritePath(ctx, env, plan.WriteBulkComments, plan.WriteBulkPosts, plan.WriteSingle, plan.WriteRuns)
			res.Write = &r
			return err
		}},
		{"4. read path", plan.SkipRead, func() error {
			r, err := MeasureReadPath(ctx, env, plan.Readers, plan.PerReader, plan.ReadRuns)
			res.Read = &r
			return err
		}},
		{"5. deferred lag", plan.SkipLag, func() error {
			r, err := MeasureDeferredLag(ctx, env, plan.LagRate, plan.LagFor, plan.LagPlainFor, plan.LagWorkers)
			res.Lag = &r
			return err
		}},
		{"refresh plan crossover", plan.SkipWide, func() error {
			r, err := MeasureWideCrossover(ctx, env, plan.WideSizes, plan.WideRuns)
			res.Wide = &r
			return err
		}},
		{"3. full rebuild", plan.SkipFull, func() error {
			r, err := MeasureFullRebuild(ctx, env, plan.FullStates, plan.FullRuns)
			res.Full = &r
			if err != nil || !plan.PeakRSS {
				return err
			}
			if cfg.TvsyncBin == "" {
				r.PeakRSSNote = "not measured: no tvsync executable given"
			} else if r.PeakRSS, r.PeakRSSTime, err = MeasurePeakRSS(ctx, env, cfg.TvsyncBin); err != nil {
				return err
			}
			res.Full = &r
			return nil
		}},
	}
	for _, s := range steps {
		if err := step(s.name, s.skip, s.fn); err != nil {
			return res, err
		}
	}
	res.Took = time.Since(res.Started)
	return res, nil
}
