package bench

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"
)

// Plan says how much of each measurement to run. DefaultPlan gives the one
// `make bench` uses for each scale.
type Plan struct {
	// BatchSizes and BatchRuns: batch sync (measurement 1).
	BatchSizes []int
	BatchRuns  int
	// Network is the delay each way of the network variants of the batch
	// sync and write path (through a Proxy), run NetBatchRuns and
	// NetWriteRuns times; zero skips them.
	Network                    time.Duration
	NetBatchRuns, NetWriteRuns int
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
	// ReplicaRuns: replica reads (6), with Readers and PerReader, when
	// Config.Replica is set; zero skips them.
	ReplicaRuns int
	// Lag is the deferred-mode measurement (5).
	Lag LagOptions
	// Refresh plan crossover: batch sizes (0 means all posts).
	WideSizes []int
	WideRuns  int
	// ScaleSets are the data sets of the scale table, smallest first, each
	// full-synced from empty ScaleRuns times, in turn; none skips it.
	ScaleSets []Scale
	ScaleRuns int
	// OnlyScale runs only the scale table: the run's own data set is not
	// set up.
	OnlyScale bool
	// Skip* leave a measurement out.
	SkipBatch, SkipWrite, SkipFull, SkipRead, SkipLag, SkipWide bool
}

// DefaultPlan returns the plan for scale: everything but the scale table
// on the main scale (sized to finish in under 10 minutes on 2 cores); only
// the scale table (100k against 1M posts) on the 1M scale; everything,
// small, on the tiny scale.
func DefaultPlan(scale Scale) Plan {
	switch scale.Name {
	case Scale1M.Name:
		return Plan{ScaleSets: []Scale{ScaleMain, Scale1M}, ScaleRuns: 3, OnlyScale: true}
	case ScaleTiny.Name:
		return Plan{
			BatchSizes: []int{1, 10, 100}, BatchRuns: 2,
			Network: NetworkDelay, NetBatchRuns: 2, NetWriteRuns: 1,
			WriteBulkComments: 50, WriteBulkPosts: 10, WriteSingle: 3, WriteRuns: 1,
			FullStates: []string{StateEmpty, StateStale, StateCurrent}, FullRuns: 1,
			Readers: 8, PerReader: 10, ReadRuns: 2, ReplicaRuns: 2,
			Lag: LagOptions{Rate: 100, For: 300 * time.Millisecond, Workers: 2, Runs: 3, HighRate: 200, HighWorkers: 4,
				Compare: true, HighRuns: 1, SweepRates: []float64{150}},
			WideSizes: []int{10, 0}, WideRuns: 1,
			ScaleSets: []Scale{ScaleTiny, ScaleTiny10}, ScaleRuns: 2,
		}
	}
	return Plan{
		BatchSizes: []int{1, 10, 100, 1000}, BatchRuns: 7,
		Network: NetworkDelay, NetBatchRuns: 5, NetWriteRuns: 3,
		WriteBulkComments: 1000, WriteBulkPosts: 100, WriteSingle: 100, WriteRuns: 5,
		FullStates: []string{StateEmpty, StateStale, StateCurrent}, FullRuns: 3, PeakRSS: true,
		Readers: 8, PerReader: 1000, ReadRuns: 3, ReplicaRuns: 3,
		Lag: LagOptions{Rate: 500, For: 10 * time.Second, Workers: 2, Runs: 3, HighRate: 2000, HighWorkers: 4,
			Compare: true, HighRuns: 3, SweepRates: []float64{100, 250, 1000}},
		WideSizes: []int{1000, 5000, 20000, 0}, WideRuns: 2,
	}
}

// Only keeps the named measurements of p (batch, write, full, read, lag,
// wide) and skips the others, the scale table included.
func (p *Plan) Only(names []string) error {
	keep := map[string]bool{}
	for _, n := range names {
		switch n = strings.TrimSpace(n); n {
		case "batch", "write", "full", "read", "lag", "wide":
			keep[n] = true
		default:
			return fmt.Errorf("unknown measurement %q (want batch, write, full, read, lag or wide)", n)
		}
	}
	p.SkipBatch, p.SkipWrite, p.SkipFull = !keep["batch"], !keep["write"], !keep["full"]
	p.SkipRead, p.SkipLag, p.SkipWide = !keep["read"], !keep["lag"], !keep["wide"]
	p.PeakRSS = p.PeakRSS && keep["full"]
	p.ScaleSets, p.OnlyScale = nil, false
	return nil
}

// Config configures Run.
type Config struct {
	// AdminURL is an administrative connection to the server (see Options).
	AdminURL string
	// Scale is the data set; the zero value means ScaleMain.
	Scale Scale
	// Plan is what to run; the zero value means DefaultPlan(Scale).
	Plan *Plan
	// KeepTemplates keeps each data set as a template database on the
	// server, so that the next run clones it instead of seeding (see
	// Options.KeepTemplate).
	KeepTemplates bool
	// TvsyncBin is a tvsync executable for the peak RSS measurements; empty
	// skips them (the scale table then syncs in-process).
	TvsyncBin string
	// Logger receives progress lines; nil discards them.
	Logger *slog.Logger
	// Replica starts a streaming replica of the server for the replica
	// reads (6); nil skips them (a server the suite did not start).
	Replica ReplicaStarter
}

// Results holds every measurement of one Run; a measurement not run is nil.
type Results struct {
	Scale         Scale
	ServerVersion string
	Started       time.Time
	Took          time.Duration
	// LoadBefore is the 1-minute load average before the run set up.
	LoadBefore Load
	// Setup lists this run's setup phases; Template the run's data set.
	Setup      []Phase
	Template   TemplateInfo
	GOMAXPROCS int
	Batch      *BatchResult
	// BatchNet and WriteNet are the network variants (see Plan.Network).
	BatchNet *BatchResult
	Write    *WriteResult
	WriteNet *WriteResult
	Full     *FullResult
	Read     *ReadResult
	Replica  *ReplicaReadResult
	Lag      *LagResult
	Wide     *WideResult
	// ScaleTable is the scale table; ScaleTableFrom, when set, says which
	// other run measured it (WriteFiles takes it from that run's results).
	ScaleTable     *ScaleResult
	ScaleTableFrom string
	// PostCount is the number of posts ("all" in the crossover).
	PostCount int
}

// Run sets up the data set of cfg.Scale and runs the plan's measurements
// in order, logging progress; the databases it created are dropped before
// it returns (kept templates stay).
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
	if plan.OnlyScale {
		plan.SkipBatch, plan.SkipWrite, plan.SkipFull, plan.SkipRead, plan.SkipLag, plan.SkipWide = true, true, true, true, true, true
	}
	res := &Results{Scale: cfg.Scale, Started: time.Now(), GOMAXPROCS: runtime.GOMAXPROCS(0), LoadBefore: LoadAvg()}
	var env *Env
	if !plan.OnlyScale {
		var err error
		env, err = Setup(ctx, Options{AdminURL: cfg.AdminURL, Scale: cfg.Scale, Logger: logger,
			NoWriteClone: plan.SkipWrite && plan.SkipLag, KeepTemplate: cfg.KeepTemplates})
		if err != nil {
			return nil, err
		}
		defer env.Close()
		res.ServerVersion, res.Setup, res.Template = env.ServerVersion, env.SetupTimes, env.Template
		res.PostCount = len(env.PostIDs) + len(env.HotPosts)
	}
	networked := func(fn func(net *Env) error) error {
		net, err := env.Networked(ctx, plan.Network)
		if err != nil {
			return err
		}
		defer net.Close()
		return fn(net)
	}

	step := func(name string, skip bool, fn func() error) error {
		if skip {
			return nil
		}
		logger.InfoContext(ctx, "bench: measuring "+name, slog.String("load", LoadAvg().String()))
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
		{"1n. batch sync over the network", plan.SkipBatch || plan.Network == 0 || plan.NetBatchRuns == 0, func() error {
			return networked(func(net *Env) error {
				r, err := MeasureBatchSync(ctx, net, plan.BatchSizes, plan.NetBatchRuns)
				res.BatchNet = &r
				return err
			})
		}},
		{"2. write path", plan.SkipWrite, func() error {
			r, err := MeasureWritePath(ctx, env, plan.WriteBulkComments, plan.WriteBulkPosts, plan.WriteSingle, plan.WriteRuns)
			res.Write = &r
			return err
		}},
		{"2n. write path over the network", plan.SkipWrite || plan.Network == 0 || plan.NetWriteRuns == 0, func() error {
			return networked(func(net *Env) error {
				r, err := MeasureWritePath(ctx, net, plan.WriteBulkComments, plan.WriteBulkPosts, plan.WriteSingle, plan.NetWriteRuns)
				res.WriteNet = &r
				return err
			})
		}},
		{"4. read path", plan.SkipRead, func() error {
			r, err := MeasureReadPath(ctx, env, plan.Readers, plan.PerReader, plan.ReadRuns)
			res.Read = &r
			return err
		}},
		{"6. replica reads", plan.OnlyScale || plan.ReplicaRuns == 0 || cfg.Replica == nil, func() error {
			r, err := MeasureReplicaReads(ctx, env, cfg.Replica, plan.Readers, plan.PerReader, plan.ReplicaRuns)
			res.Replica = &r
			return err
		}},
		{"5. deferred lag", plan.SkipLag, func() error {
			r, err := MeasureDeferredLag(ctx, env, plan.Lag)
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
		{"scale table", len(plan.ScaleSets) == 0 || plan.ScaleRuns == 0, func() error {
			var envs []*Env
			defer func() {
				for _, e := range envs {
					e.Close()
				}
			}()
			var sets []*Env
			for _, s := range plan.ScaleSets {
				if env != nil && s.Name == env.Scale.Name {
					sets = append(sets, env) // the run's own data set: the scale table comes last
					continue
				}
				e, err := Setup(ctx, Options{AdminURL: cfg.AdminURL, Scale: s, Logger: logger, NoWriteClone: true, KeepTemplate: cfg.KeepTemplates})
				if err != nil {
					return err
				}
				envs = append(envs, e)
				sets = append(sets, e)
				res.Setup = append(res.Setup, e.SetupTimes...)
				res.ServerVersion = e.ServerVersion
			}
			r, err := MeasureScale(ctx, sets, plan.ScaleRuns, cfg.TvsyncBin)
			res.ScaleTable = &r
			return err
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
