package modeltest

import (
	"context"
	"fmt"
	"strings"

	"github.com/stretchr/testify/require"

	tvsync "github.com/tvsync/tvsync/sync"
)

// validateJudge checks the judge itself on the quiescent database: its Go
// recomputation must equal the views' documents, and the tv_ tables after
// the full sync. A failure here is the harness's, not the engine's.
func (m *model) validateJudge(ctx context.Context) {
	snap, err := ReadSnapshot(ctx, m.pool, m.g)
	require.NoError(m.t, err)
	m.ids.reset(snap, m.g)
	for _, sources := range []bool{true, false} {
		drift, err := snap.Compare(ctx, m.pool, sources)
		require.NoError(m.t, err)
		if len(drift) > 0 {
			m.t.Fatalf("harness: the Go recomputation differs from the %s (sources=%v) on a quiescent database after a full sync (seed %d):\n%s",
				map[bool]string{true: "document views", false: "tv_ tables"}[sources], sources, m.seed, driftList(drift))
		}
	}
}

// driftList formats at most 12 drifts.
func driftList(drift []Drift) string {
	var b strings.Builder
	for i, d := range drift {
		if i == 12 {
			fmt.Fprintf(&b, "    … and %d more\n", len(drift)-i)
			break
		}
		fmt.Fprintf(&b, "    %s\n", d)
	}
	return b.String()
}

// rest brings the system to rest: the fault removed, every queued row made
// ready (after-commit rows wait out a grace period, failed ones a backoff:
// the model does not wait, it moves them forward), dead rows revived, the
// queue drained until empty. It fails when the queue does not empty.
func (m *model) rest(ctx context.Context) error {
	m.removeFault(ctx)
	w := must(tvsync.NewWorker(m.engine, m.pool, tvsync.WorkerConfig{BatchSize: 50}))
	var st tvsync.QueueStats
	for range 20 {
		if _, err := m.pool.Exec(ctx, "UPDATE tvsync.sync_queue SET available_at = now() WHERE NOT dead AND available_at > now()"); err != nil {
			return err
		}
		n, err := m.engine.RetryDead(ctx)
		if err != nil {
			return err
		}
		m.fig.DeadAtRest.Add(n)
		if _, err := w.Drain(ctx); err != nil {
			return fmt.Errorf("worker drain with no fault left: %w", err)
		}
		if st, err = m.engine.QueueStats(ctx); err != nil {
			return err
		}
		if st.Pending == 0 && st.Dead == 0 {
			return nil
		}
	}
	return fmt.Errorf("the queue does not empty: %+v", st)
}

// checkpoint brings the system to rest and judges every document against
// its recomputation, cross-checking the judge with engine.Verify. Drift is
// reported with the steps since the last checkpoint, then repaired by a
// full sync so that later checkpoints see only their own.
func (m *model) checkpoint(ctx context.Context, step int) {
	m.fig.Checkpoints.Add(1)
	if err := m.rest(ctx); err != nil {
		m.unexpected(step, fmt.Errorf("at rest: %w", err))
	}
	snap, err := ReadSnapshot(ctx, m.pool, m.g)
	require.NoError(m.t, err)
	drift, err := snap.Compare(ctx, m.pool, false)
	require.NoError(m.t, err)
	for _, e := range m.g.Entities {
		vr, err := m.engine.Verify(ctx, e.Name, tvsync.VerifyOptions{Workers: 1})
		require.NoError(m.t, err)
		mine := 0
		for _, d := range drift {
			if d.Entity == e.Name {
				mine++
			}
		}
		if got := vr.Missing + vr.Stale + vr.Orphaned; got != mine {
			m.t.Errorf("harness: at step %d the judge finds %d drifted %s documents, engine.Verify %d (%+v) (seed %d)", step, mine, e.Name, got, vr.Samples, m.seed)
		}
	}
	if len(drift) > 0 {
		m.fig.Drift.Add(int64(len(drift)))
		m.fig.DriftCheckpoints.Add(1)
		m.t.Errorf("checkpoint after step %d: %d document(s) drifted (reproduce with -model.seed=%d):\n%ssteps since the last checkpoint:\n    %s",
			step, len(drift), m.seed, driftList(drift), strings.Join(m.history, "\n    "))
		for _, e := range m.g.Entities {
			_, err := m.engine.FullSync(ctx, e.Name, tvsync.FullOptions{Workers: 2})
			require.NoError(m.t, err)
		}
		again, err := snap.Compare(ctx, m.pool, false)
		require.NoError(m.t, err)
		require.Empty(m.t, again, "harness: drift left after a full sync")
	}
	m.ids.reset(snap, m.g)
	m.history = nil
}
