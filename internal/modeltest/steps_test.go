package modeltest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/stretchr/testify/require"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// The steps of a history: each draws its writes and faults from the
// round's random source and runs them; step picks one.

// modes returns the modes a unit of work may use now: not AfterCommit
// while a dependent fails unless item 3 is checked.
func (m *model) modes() []syncuow.Timing {
	if m.faulty() && !m.items[itemDependent] {
		return []syncuow.Timing{syncuow.Inline, syncuow.Deferred}
	}
	return []syncuow.Timing{syncuow.AfterCommit, syncuow.Inline, syncuow.Deferred}
}

func (m *model) mode(r *rand.Rand) syncuow.Timing {
	modes := m.modes()
	return modes[r.IntN(len(modes))]
}

// note records a step's description for the checkpoint's report; it is
// safe for concurrent use.
func (m *model) note(format string, args ...any) {
	m.historyMu.Lock()
	defer m.historyMu.Unlock()
	m.history = append(m.history, fmt.Sprintf(format, args...))
}

// unexpected reports an outcome that no fault explains.
func (m *model) unexpected(step int, err error) {
	if err == nil {
		return
	}
	m.fig.Unexpected.Add(1)
	m.t.Errorf("step %d: %v (reproduce with -model.seed=%d)", step, err, m.seed)
}

// step draws and runs one step of the history.
func (m *model) step(ctx context.Context, r *rand.Rand, step int) {
	m.fig.Steps.Add(1)
	k := r.IntN(100)
	switch {
	case k < 33:
		m.stepUnit(ctx, r, step)
	case k < 43:
		m.stepBurst(ctx, r, step)
	case k < 51:
		m.stepCancelAfterCommit(ctx, r, step)
	case k < 57:
		m.stepCancelAnywhere(ctx, r, step)
	case k < 64:
		m.stepConcurrent(ctx, r, step)
	case k < 68:
		m.stepHot(ctx, r, step)
	case k < 75:
		m.stepDrain(ctx, r, step)
	case k < 82:
		m.stepKillWorker(ctx, r, step)
	case k < 90:
		m.stepFault(ctx, r, step)
	default:
		m.stepUnit(ctx, r, step)
	}
}

// stepUnit runs one unit of 1 to 4 random writes in a random mode.
func (m *model) stepUnit(ctx context.Context, r *rand.Rand, step int) {
	mode := m.mode(r)
	ops := m.randomOps(r)
	m.note("%d: unit (%v) %s", step, mode, describe(ops))
	m.unexpected(step, m.unit(ctx, m.runners[mode], ops, nil))
}

func describe(ops []op) string {
	d := make([]string, len(ops))
	for i, o := range ops {
		d[i] = o.desc
	}
	return strings.Join(d, "; ")
}

// randomFK returns a random foreign key of the graph.
func (m *model) randomFK(r *rand.Rand) *FK {
	var fks []*FK
	for _, e := range m.g.Entities {
		fks = append(fks, e.FKs...)
	}
	return fks[r.IntN(len(fks))]
}

// stepBurst inserts more children of one parent than BatchSize, then
// renames the parent: a cascade larger than one sync transaction.
func (m *model) stepBurst(ctx context.Context, r *rand.Rand, step int) {
	fk := m.randomFK(r)
	parent := m.ids.pick(r, fk.To)
	if parent == "" {
		m.stepUnit(ctx, r, step)
		return
	}
	mode1, mode2 := m.mode(r), m.mode(r)
	burst := m.burstOps(r, fk, parent)
	rename := []op{m.renameOp(r, fk.To, parent)}
	m.note("%d: burst (%v) of %d %s under %s %s, then (%v) %s", step, mode1, len(burst), fk.From.Name, fk.To.Name, parent, mode2, rename[0].desc)
	m.unexpected(step, m.unit(ctx, m.runners[mode1], burst, nil))
	m.unexpected(step, m.unit(ctx, m.runners[mode2], rename, nil))
}

// stepCancelAfterCommit renames a parent (after an inline burst of its
// children, half the time) in AfterCommit mode and cancels the context just before
// the k-th transaction of the sync that follows the commit: the first
// unless item 2 is checked.
func (m *model) stepCancelAfterCommit(ctx context.Context, r *rand.Rand, step int) {
	if !slices.Contains(m.modes(), syncuow.AfterCommit) {
		m.stepUnit(ctx, r, step)
		return
	}
	fk := m.randomFK(r)
	parent := m.ids.pick(r, fk.To)
	if parent == "" {
		m.stepUnit(ctx, r, step)
		return
	}
	if r.IntN(2) == 0 {
		// Inline: nothing of the burst stays queued, whose sync would
		// also repair what the cancel leaves behind.
		m.note("%d: burst (inline) under %s %s", step, fk.To.Name, parent)
		m.unexpected(step, m.unit(ctx, m.runners[syncuow.Inline], m.burstOps(r, fk, parent), nil))
	}
	n := 1
	if m.items[itemTail] {
		n = 1 + r.IntN(3)
	}
	ops := []op{m.renameOp(r, fk.To, parent)}
	cctx, tr, cancel := cancelTrip(ctx, n, "pg_advisory_xact_lock")
	m.note("%d: unit (after-commit, cancelled before sync transaction %d) %s", step, n, describe(ops))
	err := m.unit(cctx, m.runners[syncuow.AfterCommit], ops, tr)
	cancel()
	if tr.Fired() {
		m.fig.CancelAfterCommit.Add(1)
	}
	m.unexpected(step, err)
}

// stepCancelAnywhere runs a random unit whose context is cancelled just
// before its k-th round trip (1 to 8): while it writes, at its commit, or
// during its sync. AfterCommit only when item 2 is checked.
func (m *model) stepCancelAnywhere(ctx context.Context, r *rand.Rand, step int) {
	modes := []syncuow.Timing{syncuow.Inline, syncuow.Deferred}
	if m.items[itemTail] && slices.Contains(m.modes(), syncuow.AfterCommit) {
		modes = append(modes, syncuow.AfterCommit)
	}
	mode := modes[r.IntN(len(modes))]
	n := 1 + r.IntN(8)
	ops := m.randomOps(r)
	cctx, tr, cancel := cancelTrip(ctx, n, "")
	m.note("%d: unit (%v, cancelled before round trip %d) %s", step, mode, n, describe(ops))
	err := m.unit(cctx, m.runners[mode], ops, tr)
	cancel()
	if tr.Fired() {
		m.fig.CancelAnywhere.Add(1)
	}
	m.unexpected(step, err)
}

// stepConcurrent runs four goroutines of 2 to 5 units each on a pool of two
// connections, with a worker running beside them half the time.
func (m *model) stepConcurrent(ctx context.Context, r *rand.Rand, step int) {
	m.fig.Concurrent.Add(1)
	wctx, stopWorker := context.WithCancel(ctx)
	var worker, writers gosync.WaitGroup
	if r.IntN(2) == 0 {
		w := must(tvsync.NewWorker(m.smallEngine, m.small, tvsync.WorkerConfig{BatchSize: 3 + r.IntN(30), PollInterval: 10 * time.Millisecond, MaxAttempts: 3, MaxBackoff: 100 * time.Millisecond}))
		worker.Go(func() { _ = w.Run(wctx) })
	}
	m.note("%d: concurrent units (4 goroutines on 2 connections)", step)
	errs := make([]error, 4)
	for g := range 4 {
		gr := rand.New(rand.NewPCG(r.Uint64(), r.Uint64()))
		writers.Go(func() {
			for range 2 + gr.IntN(4) {
				mode := m.mode(gr)
				for mode == syncuow.Inline && !m.items[itemInlineRace] {
					mode = m.mode(gr)
				}
				ops := m.randomOps(gr)
				if gr.IntN(6) == 0 {
					fk := m.randomFK(gr)
					if parent := m.ids.pick(gr, fk.To); parent != "" {
						ops = append(m.burstOps(gr, fk, parent), m.renameOp(gr, fk.To, parent))
					}
				}
				m.note("%d.%d: unit (%v) %s", step, g, mode, describe(ops))
				if err := m.unit(ctx, m.smallRuns[mode], ops, nil); err != nil && errs[g] == nil {
					errs[g] = err
				}
			}
		})
	}
	writers.Wait()
	stopWorker()
	worker.Wait()
	for _, err := range errs {
		m.unexpected(step, err)
	}
}

// stepHot runs eight goroutines of units on two parents P and Q of one
// foreign key and a few of their children, on the pool of eight connections:
// units rename a parent (a cascading change) and move a child between
// them (its old parent recorded as a plain change), in random order, so
// that two units record the same ids with opposite cascade flags without
// waiting for each other's row locks: the shape of issue 18's item 5.
func (m *model) stepHot(ctx context.Context, r *rand.Rand, step int) {
	fk := m.randomFK(r)
	p, q := m.ids.pick(r, fk.To), m.ids.pick(r, fk.To)
	var kids []string
	if p != "" && p != q {
		var err error
		kids, err = query(ctx, m.pool, fmt.Sprintf("SELECT id::text FROM %s WHERE %s = ANY($1::text[]::%s[]) ORDER BY id LIMIT 6", m.g.Table(fk.From), fk.Column, fk.To.Key), []string{p, q})
		require.NoError(m.t, err)
	}
	if len(kids) == 0 {
		m.stepConcurrent(ctx, r, step)
		return
	}
	m.fig.Hot.Add(1)
	m.note("%d: hot units (8 goroutines on 8 connections) on %s %s and %s", step, fk.To.Name, p, q)
	errs := make([]error, 8)
	var writers gosync.WaitGroup
	for g := range 8 {
		gr := rand.New(rand.NewPCG(r.Uint64(), r.Uint64()))
		writers.Go(func() {
			for range 3 + gr.IntN(4) {
				mode := []syncuow.Timing{syncuow.AfterCommit, syncuow.Deferred}[gr.IntN(2)]
				if !slices.Contains(m.modes(), mode) {
					mode = syncuow.Deferred
				}
				parents := []string{p, q}
				gr.Shuffle(2, func(i, j int) { parents[i], parents[j] = parents[j], parents[i] })
				ops := []op{m.renameOp(gr, fk.To, parents[0]), m.moveOp(fk.From, kids[gr.IntN(len(kids))], fk, parents[gr.IntN(2)])}
				if gr.IntN(2) == 0 {
					ops[0], ops[1] = ops[1], ops[0]
				}
				m.note("%d.%d: unit (%v) %s", step, g, mode, describe(ops))
				if err := m.unit(ctx, m.runners[mode], ops, nil); err != nil && errs[g] == nil {
					errs[g] = err
				}
			}
		})
	}
	writers.Wait()
	for _, err := range errs {
		m.unexpected(step, err)
	}
}

// stepDrain drains the queue with a worker of random batch size.
func (m *model) stepDrain(ctx context.Context, r *rand.Rand, step int) {
	m.fig.Drains.Add(1)
	w := must(tvsync.NewWorker(m.engine, m.pool, tvsync.WorkerConfig{BatchSize: 1 + r.IntN(40), MaxAttempts: 3, MaxBackoff: time.Second}))
	m.note("%d: worker drain", step)
	if _, err := w.Drain(ctx); err != nil && !m.faulty() {
		m.unexpected(step, fmt.Errorf("worker drain: %w", err))
	}
}

// stepKillWorker drains with a worker whose context is cancelled, or whose
// backend is terminated, just before its k-th round trip (1 to 6).
func (m *model) stepKillWorker(ctx context.Context, r *rand.Rand, step int) {
	w := must(tvsync.NewWorker(m.engine, m.pool, tvsync.WorkerConfig{BatchSize: 1 + r.IntN(40), MaxAttempts: 3, MaxBackoff: time.Second}))
	n := 1 + r.IntN(6)
	var tr *trip
	wctx := ctx
	cancel := func() {}
	terminate := r.IntN(2) == 0
	if terminate {
		wctx, tr = terminateTrip(ctx, m.pool, n)
		m.note("%d: worker drain whose backend is terminated before round trip %d", step, n)
	} else {
		wctx, tr, cancel = cancelTrip(ctx, n, "")
		m.note("%d: worker drain cancelled before round trip %d", step, n)
	}
	_, err := w.Drain(wctx)
	cancel()
	if tr.Fired() {
		if terminate {
			m.fig.WorkerTerminated.Add(1)
		} else {
			m.fig.WorkerCancelled.Add(1)
		}
		return
	}
	if err != nil && !m.faulty() {
		m.unexpected(step, fmt.Errorf("worker drain: %w", err))
	}
}

// stepFault injects the failure of one dependent, or removes it: a CHECK
// on a parent entity's tv_ table rejects one id that has children, and a
// unit renames some of them and adds one (their parent must follow).
func (m *model) stepFault(ctx context.Context, r *rand.Rand, step int) {
	if m.faulty() {
		m.note("%d: fault removed", step)
		m.removeFault(ctx)
		return
	}
	fk := m.randomFK(r)
	parents, err := query(ctx, m.pool, fmt.Sprintf("SELECT DISTINCT %s::text FROM %s WHERE %s IS NOT NULL ORDER BY 1", fk.Column, m.g.Table(fk.From), fk.Column))
	require.NoError(m.t, err)
	if len(parents) == 0 {
		m.stepUnit(ctx, r, step)
		return
	}
	f := &fault{entity: fk.To, id: parents[r.IntN(len(parents))]}
	_, err = m.pool.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (id <> '%s'::%s) NOT VALID", m.g.View(f.entity), faultConstraint, f.id, f.entity.Key))
	require.NoError(m.t, err, "harness: inject the fault")
	m.fault.Store(f)
	m.fig.DependentFaults.Add(1)
	kids, err := query(ctx, m.pool, fmt.Sprintf("SELECT id::text FROM %s WHERE %s = $1::%s ORDER BY id", m.g.Table(fk.From), fk.Column, fk.To.Key), f.id)
	require.NoError(m.t, err)
	ops := []op{m.insertOp(r, fk.From, map[*FK]string{fk: f.id})}
	for range min(len(kids), 1+r.IntN(3)) {
		ops = append(ops, m.renameOp(r, fk.From, kids[r.IntN(len(kids))]))
	}
	mode := m.mode(r)
	m.note("%d: fault: %s rejects the document of %s; unit (%v) %s", step, m.g.View(f.entity), f.id, mode, describe(ops))
	m.unexpected(step, m.unit(ctx, m.runners[mode], ops, nil))
}

// removeFault drops the injected CHECK, if any.
func (m *model) removeFault(ctx context.Context) {
	f := m.fault.Load()
	if f == nil {
		return
	}
	_, err := m.pool.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s", m.g.View(f.entity), faultConstraint))
	require.NoError(m.t, err, "harness: remove the fault")
	m.fault.Store(nil)
}
