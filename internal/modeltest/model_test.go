package modeltest

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncdbtest"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// The engine behaviours of issue 18 that the model exercises only when they
// are marked fixed (or enabled with -model.enable): against an engine that
// has not fixed them the model finds drift every run, so `make test` checks
// everything else until they are.
const (
	itemChains    = "chains"            // item 1
	itemTail      = "after-commit-tail" // item 2
	itemDependent = "failed-dependent"  // item 3
	itemDeadlock  = "enqueue-deadlock"  // item 5
	// itemInlineRace is not in issue 18: the model found it (see
	// TestInlineRenameRacesAttach).
	itemInlineRace = "inline-race"
)

// issueItem describes one switch of the model.
type issueItem struct {
	name   string
	number int // in issue 18
	what   string
}

var issueItems = []issueItem{
	{itemChains, 1, "documents two or more declared cascades away from a change (titles of titles, lists of children showing their own parents' titles): Sync follows cascades one level only"},
	{itemTail, 2, "after-commit syncs cancelled after the first chunk of a cascade larger than BatchSize (and at random round trips): the first chunk removes the queued change, the tail is lost"},
	{itemDependent, 3, "after-commit units of work while one dependent's documents are rejected (a CHECK on its tv_ table): the failed dependent is never queued"},
	{itemDeadlock, 5, "units of work failing with 40P01 inside tvsync's own enqueue count as failures instead of being tolerated"},
	{itemInlineRace, 0, "inline units of work among the concurrent ones: an inline sync expands its cascades before it takes its locks, so a dependent attached meanwhile by another unit (whose sync read the parent's old data) is missed; TestInlineRenameRacesAttach replays it"},
}

// fixed marks the items that the engine has fixed: the model then checks
// them in every run, `make test` included (the item's subtest, and "all"
// once every item is fixed, stop being skipped). Flip an entry to true in
// the commit that fixes the item.
var fixed = map[string]bool{
	itemChains:     true,
	itemTail:       true,
	itemDependent:  true,
	itemDeadlock:   true,
	itemInlineRace: true,
}

// shortRunSeed is the seed of the short run's first round (make test).
const shortRunSeed = 1000

var (
	seedFlag     = flag.Uint64("model.seed", 0, "seed of the (first) round; 0 draws one from the clock in the long run, and uses a fixed one in the short run")
	stepsFlag    = flag.Int("model.steps", 0, "steps per round instead of the variant's")
	durationFlag = flag.Duration("model.duration", 0, "in each subtest that runs, run rounds (seed, seed+1, …: a new graph and database each) until this much time has passed")
	longFlag     = flag.Bool("model.long", false, "the long variant (make model): more rows and steps per round, rounds for 10 minutes per subtest unless -model.duration says otherwise")
	enableFlag   = flag.String("model.enable", "", "comma-separated items to check although not marked fixed: "+itemChains+", "+itemTail+", "+itemDependent+", "+itemDeadlock+", "+itemInlineRace+", or all")
	checkFlag    = flag.Int("model.check-every", 0, "steps between two checkpoints instead of the variant's")
	expandFlag   = flag.Bool("model.expand-writes", false, "units of work record every row their changes reach (engine.Expand, transitively) before they commit: a check of the harness, with which the chains subtest passes against an engine that follows cascades one level only")
)

// batchSize is the engine's Config.BatchSize: small, so that cascades
// larger than one sync transaction are the rule.
const batchSize = 7

// faultConstraint names the CHECK that rejects the documents of one id.
const faultConstraint = "model_fault"

func TestMain(m *testing.M) {
	os.Exit(syncdbtest.Main(m, syncdbtest.Options{}))
}

// variant sizes a run.
type variant struct {
	steps, checkEvery, minRows, maxRows int
	duration                            time.Duration
}

func chosenVariant() variant {
	v := variant{steps: 48, checkEvery: 6, minRows: 5, maxRows: 14}
	if *longFlag {
		v = variant{steps: 240, checkEvery: 10, minRows: 12, maxRows: 40, duration: 10 * time.Minute}
	}
	if *stepsFlag > 0 {
		v.steps = *stepsFlag
	}
	if *checkFlag > 0 {
		v.checkEvery = *checkFlag
	}
	if *durationFlag > 0 {
		v.duration = *durationFlag
	}
	return v
}

// enabled reports whether item is checked: marked fixed, or enabled by flag.
func enabled(item string) bool {
	if fixed[item] {
		return true
	}
	for _, s := range strings.Split(*enableFlag, ",") {
		if s = strings.TrimSpace(s); s == item || s == "all" {
			return true
		}
	}
	return false
}

// TestModel runs random histories of units of work over random entity
// graphs and judges every document, after every few steps, against its
// recomputation in Go from the tb_ rows: no document may drift, and the
// queue must end empty, whatever the graph, the modes, the cancels, the
// killed workers and the failing dependent.
//
// Subtest "base" checks what the engine already guarantees. Each other
// subtest adds one item of issue 18 (its history or graph shapes are
// drawn only there) and is skipped, naming the item, until the item is in
// fixed or in -model.enable; "all" adds every item.
func TestModel(t *testing.T) {
	v := chosenVariant()
	seed := *seedFlag
	switch {
	case seed == 0 && !*longFlag:
		// The short run in make test replays fixed graphs and histories
		// (their concurrent steps still interleave as they may): rare
		// concurrency drifts the long runs still find are open findings of
		// issue 18, not a coin toss for CI. make model draws new seeds.
		seed = shortRunSeed
	case seed == 0:
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("model: seed %d (reproduce with -model.seed=%d)", seed, seed)
	cases := []struct {
		name  string
		items []string
	}{{name: "base"}}
	var all []string
	for _, it := range issueItems {
		cases = append(cases, struct {
			name  string
			items []string
		}{it.name, []string{it.name}})
		all = append(all, it.name)
	}
	cases = append(cases, struct {
		name  string
		items []string
	}{"all", all})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			items := map[string]bool{}
			for _, name := range c.items {
				if !enabled(name) {
					it := issueItems[slices.IndexFunc(issueItems, func(it issueItem) bool { return it.name == name })]
					source := fmt.Sprintf("issue 18 item %d", it.number)
					if it.number == 0 {
						source = "found by this test, not in issue 18"
					}
					t.Skipf("%s is not fixed yet (%s): check it with -model.enable=%s, or set fixed[%q] = true in internal/modeltest/model_test.go once it is", source, it.what, name, name)
				}
				items[name] = true
			}
			start := time.Now()
			var total figures
			for i := uint64(0); ; i++ {
				s := seed + i
				t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) { runRound(t, s, items, v, &total) })
				if v.duration == 0 || time.Since(start) > v.duration {
					t.Logf("model %s: %d round(s) (seeds %d to %d) in %v: %s", c.name, i+1, seed, s, time.Since(start).Round(time.Second), total.String())
					return
				}
			}
		})
	}
}

// model is one round: a graph, its database, its engines and runners, and
// the figures of its history.
type model struct {
	t     *testing.T
	seed  uint64
	g     *Graph
	items map[string]bool
	fig   figures
	// pool (8 connections) runs the sequential steps, the judge and the
	// faults; small (2 connections) the concurrent steps.
	pool, small         *pgxpool.Pool
	engine, smallEngine *tvsync.Engine
	runners, smallRuns  [3]*syncuow.Runner // by syncuow.Timing
	ids                 ids
	fault               atomic.Pointer[fault]
	// history describes the steps since the last checkpoint.
	historyMu gosync.Mutex
	history   []string
}

// fault is the injected failure of one dependent: a CHECK on its tv_
// table rejecting the documents of one id.
type fault struct {
	entity *Entity
	id     string
}

func (m *model) faulty() bool { return m.fault.Load() != nil }

// newPool opens a pool of n connections on url whose connections run the
// trips of their contexts.
func newPool(t *testing.T, url string, n int32, app string) *pgxpool.Pool {
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.MaxConns = n
	cfg.ConnConfig.Tracer = tracer{}
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// runRound generates a graph from seed, builds its database, runs the
// history and judges it.
func runRound(t *testing.T, seed uint64, items map[string]bool, v variant, total *figures) {
	ctx, cancel := context.WithTimeout(t.Context(), max(v.duration, 0)+10*time.Minute)
	defer cancel()
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	m := &model{t: t, seed: seed, g: NewGraph(r, GraphOptions{Chains: items[itemChains]}), items: items}
	t.Logf("model: seed %d, graph:\n%s", seed, m.g)
	url := syncdbtest.URL(t)
	m.pool = newPool(t, url, 8, "model")
	m.small = newPool(t, url, 2, "model-small")
	for _, stmt := range m.g.DDL() {
		_, err := m.pool.Exec(ctx, stmt)
		require.NoError(t, err, "harness: %s", stmt)
	}
	cfg := tvsync.Config{BatchSize: batchSize, WideThreshold: -1, SlowThreshold: -1}
	var err error
	m.engine, err = tvsync.NewEngine(m.pool, cfg, m.g.Registration()...)
	require.NoError(t, err)
	m.smallEngine, err = tvsync.NewEngine(m.small, cfg, m.g.Registration()...)
	require.NoError(t, err)
	grace := time.Duration(0) // the default: the worker leaves after-commit rows alone for 10s
	if r.IntN(2) == 0 {
		grace = time.Millisecond // workers race the after-commit syncs
	}
	for _, mode := range []syncuow.Timing{syncuow.AfterCommit, syncuow.Inline, syncuow.Deferred} {
		m.runners[mode] = must(syncuow.New(m.pool, m.engine, syncuow.Options{Timing: mode, AfterCommitGrace: grace}))
		m.smallRuns[mode] = must(syncuow.New(m.small, m.smallEngine, syncuow.Options{Timing: mode, AfterCommitGrace: grace}))
	}

	m.seedRows(ctx, r, v)
	m.validateJudge(ctx)
	for step := 1; step <= v.steps; step++ {
		m.step(ctx, r, step)
		if step%v.checkEvery == 0 || step == v.steps {
			m.checkpoint(ctx, step)
		}
	}
	t.Logf("model: seed %d: %s", seed, m.fig.String())
	total.add(&m.fig)
	if t.Failed() {
		t.Logf("model: reproduce with -model.seed=%d -run 'TestModel/%s'", seed, strings.SplitN(t.Name(), "/", 3)[1])
	}
}

// seedRows fills every tb_ table with rows whose foreign keys point to
// random rows, outside the engine, then full-syncs every entity.
func (m *model) seedRows(ctx context.Context, r *rand.Rand, v variant) {
	b := &pgx.Batch{}
	all := map[*Entity][]string{}
	for _, e := range m.g.Entities {
		n := v.minRows + r.IntN(v.maxRows-v.minRows+1)
		for range n {
			id := newID(r, e.Key)
			if slices.Contains(all[e], id) {
				continue // a bigint extreme drawn twice
			}
			all[e] = append(all[e], id)
			b.Queue(fmt.Sprintf("INSERT INTO %s (id, name, num) VALUES ($1::%s, $2, $3)", m.g.Table(e), e.Key), id, newName(r), r.Int64N(1000))
		}
	}
	for _, e := range m.g.Entities {
		for _, fk := range e.FKs {
			for _, id := range all[e] {
				if len(all[fk.To]) > 0 && r.IntN(10) < 7 {
					b.Queue(fmt.Sprintf("UPDATE %s SET %s = $2::%s WHERE id = $1::%s", m.g.Table(e), fk.Column, fk.To.Key, e.Key), id, all[fk.To][r.IntN(len(all[fk.To]))])
				}
			}
		}
	}
	require.NoError(m.t, m.pool.SendBatch(ctx, b).Close(), "harness: seed rows")
	for _, e := range m.g.Entities {
		_, err := m.engine.FullSync(ctx, e.Name, tvsync.FullOptions{Workers: 2})
		require.NoError(m.t, err, "full sync %s", e.Name)
	}
}

// figures are what a round did, printed at its end.
type figures struct {
	Steps, Checkpoints                                 atomic.Int64
	Units                                              [3]atomic.Int64 // by syncuow.Timing
	Ok, Domain, Interrupted, Rejected                  atomic.Int64
	EnqueueDeadlocks, Unexpected                       atomic.Int64
	CancelAfterCommit, CancelAnywhere                  atomic.Int64
	WorkerCancelled, WorkerTerminated, DependentFaults atomic.Int64
	Concurrent, Hot, Drains, BigCascades               atomic.Int64
	DeadAtRest, Drift, DriftCheckpoints                atomic.Int64
}

// add adds the counts of o to f.
func (f *figures) add(o *figures) {
	fv, ov := reflect.ValueOf(f).Elem(), reflect.ValueOf(o).Elem()
	for i := range fv.NumField() {
		switch a := fv.Field(i).Addr().Interface().(type) {
		case *atomic.Int64:
			a.Add(ov.Field(i).Addr().Interface().(*atomic.Int64).Load())
		case *[3]atomic.Int64:
			b := ov.Field(i).Addr().Interface().(*[3]atomic.Int64)
			for j := range a {
				a[j].Add(b[j].Load())
			}
		}
	}
}

// String gives the figures in one paragraph.
func (f *figures) String() string {
	return fmt.Sprintf("%d steps, %d checkpoints; units of work: %d after-commit, %d inline, %d deferred "+
		"(%d ok, %d rolled back by their own statements, %d interrupted by a fault, %d rejected by the failing dependent, %d enqueue deadlocks tolerated, %d unexpected); "+
		"faults: %d after-commit cancels, %d cancels anywhere, %d workers cancelled, %d workers' backends terminated, %d dependents failing; "+
		"%d concurrent steps, %d hot steps, %d worker drains, %d cascades above BatchSize %d; %d dead rows revived at rest; drift %d (at %d checkpoints)",
		f.Steps.Load(), f.Checkpoints.Load(), f.Units[syncuow.AfterCommit].Load(), f.Units[syncuow.Inline].Load(), f.Units[syncuow.Deferred].Load(),
		f.Ok.Load(), f.Domain.Load(), f.Interrupted.Load(), f.Rejected.Load(), f.EnqueueDeadlocks.Load(), f.Unexpected.Load(),
		f.CancelAfterCommit.Load(), f.CancelAnywhere.Load(), f.WorkerCancelled.Load(), f.WorkerTerminated.Load(), f.DependentFaults.Load(),
		f.Concurrent.Load(), f.Hot.Load(), f.Drains.Load(), f.BigCascades.Load(), batchSize, f.DeadAtRest.Load(), f.Drift.Load(), f.DriftCheckpoints.Load())
}
