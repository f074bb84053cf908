package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/tvsync/tvsync/blog"
	tvsync "github.com/tvsync/tvsync/sync"
)

// Full rebuild variants.
const (
	// FullEngine is engine.FullSync(ctx, "post", FullOptions{}): keyset
	// chunks of BatchSize (1000) ids, GOMAXPROCS chunks at once, each
	// finding its orphans in the same transaction.
	FullEngine = "tvsync FullSync (parallel chunks)"
	// FullInsertSelect is one INSERT INTO tv_post SELECT … FROM
	// tv_post_source ON CONFLICT DO UPDATE … WHERE IS DISTINCT FROM.
	FullInsertSelect = "one INSERT … SELECT … ON CONFLICT"
	// FullMatview is a materialized view of tv_post_source with a unique
	// index on id: REFRESH MATERIALIZED VIEW from empty (a concurrent
	// refresh needs a populated view), REFRESH … CONCURRENTLY otherwise.
	FullMatview = "materialized view REFRESH"
)

// FullVariants lists the full rebuild variants in report order.
var FullVariants = []string{FullEngine, FullInsertSelect, FullMatview}

// Full rebuild starting states.
const (
	// StateEmpty starts from an empty tv_post (TRUNCATE) and an unpopulated
	// materialized view (REFRESH … WITH NO DATA): the first build.
	StateEmpty = "from empty"
	// StateStale starts with every tv_post row present but different from
	// its definition (data = '{}'), as after a migration changed the
	// document shape. The materialized view has no such state.
	StateStale = "all rows stale"
	// StateCurrent starts with everything current: the rebuild only
	// verifies (REFRESH … CONCURRENTLY for the materialized view).
	StateCurrent = "already current"
)

const (
	matviewName      = "bench_tv_post_mv"
	insertSelectFull = `INSERT INTO tv_post (id, data, updated_at)
SELECT id, data, now() FROM tv_post_source
ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
    WHERE tv_post.data IS DISTINCT FROM EXCLUDED.data`
)

// CreateMatview creates the materialized view of tv_post_source (populated)
// with its unique index; DropMatview removes it.
func CreateMatview(ctx context.Context, env *Env) error {
	_, err := env.Pool.Exec(ctx, `
DROP MATERIALIZED VIEW IF EXISTS `+matviewName+`;
CREATE MATERIALIZED VIEW `+matviewName+` AS SELECT id, data FROM tv_post_source;
CREATE UNIQUE INDEX ON `+matviewName+` (id);
ANALYZE `+matviewName)
	if err != nil {
		return fmt.Errorf("bench: create materialized view: %w", err)
	}
	return nil
}

// DropMatview removes the materialized view of CreateMatview.
func DropMatview(ctx context.Context, env *Env) error {
	if _, err := env.Pool.Exec(ctx, "DROP MATERIALIZED VIEW IF EXISTS "+matviewName); err != nil {
		return fmt.Errorf("bench: drop materialized view: %w", err)
	}
	return nil
}

// PrepareFull puts tv_post (and the materialized view) into state.
func PrepareFull(ctx context.Context, env *Env, variant, state string) error {
	var sql string
	switch {
	case variant == FullMatview && state == StateEmpty:
		sql = "REFRESH MATERIALIZED VIEW " + matviewName + " WITH NO DATA"
	case variant == FullMatview:
		sql = "SELECT 1"
	case state == StateEmpty:
		sql = "TRUNCATE tv_post"
	case state == StateStale:
		sql = "UPDATE tv_post SET data = '{}'"
	default:
		sql = "SELECT 1"
	}
	if _, err := env.Pool.Exec(ctx, sql); err != nil {
		return fmt.Errorf("bench: prepare %s %s: %w", variant, state, err)
	}
	return nil
}

// RebuildFull runs one full rebuild of tv_post with variant, from state.
func RebuildFull(ctx context.Context, env *Env, variant, state string) error {
	var err error
	switch variant {
	case FullEngine:
		_, err = env.Engine.FullSync(ctx, blog.EntityPost, tvsync.FullOptions{})
	case FullInsertSelect:
		_, err = env.Pool.Exec(ctx, insertSelectFull)
	case FullMatview:
		sql := "REFRESH MATERIALIZED VIEW CONCURRENTLY " + matviewName
		if state == StateEmpty {
			sql = "REFRESH MATERIALIZED VIEW " + matviewName
		}
		_, err = env.Pool.Exec(ctx, sql)
	default:
		err = fmt.Errorf("unknown variant")
	}
	if err != nil {
		return fmt.Errorf("bench: full rebuild %s (%s): %w", variant, state, err)
	}
	return nil
}

// checkFull verifies that tv_post matches its definition everywhere.
func checkFull(ctx context.Context, env *Env) error {
	var bad int
	err := env.Pool.QueryRow(ctx, `
		SELECT count(*) FROM tv_post_source s FULL JOIN tv_post t ON t.id = s.id
		WHERE s.data IS DISTINCT FROM t.data`).Scan(&bad)
	if err != nil {
		return fmt.Errorf("bench: check tv_post: %w", err)
	}
	if bad != 0 {
		return fmt.Errorf("bench: %d tv_post rows differ from tv_post_source after the rebuild", bad)
	}
	return nil
}

// FullResult is the full rebuild measurement.
type FullResult struct {
	States []string
	// Loads is the 1-minute load average at the start of each run.
	Loads []Load
	// Stats[state][variant]; a variant absent from a state has no entry.
	Stats map[string]map[string]Stat
	// PeakRSS is the maximum resident set size of the child process
	// `tvsync sync --entity post --all` (from empty), in bytes; zero when
	// not measured. PeakRSSTime is that child's wall time.
	PeakRSS     int64
	PeakRSSTime time.Duration
	// PeakRSSNote says why the peak RSS was not measured, if it was not.
	PeakRSSNote string
}

// MeasureFullRebuild times each variant's full rebuild of tv_post from each
// state, runs times, interleaved. The variants' results are checked once
// per state and variant (a full comparison with tv_post_source, not timed).
func MeasureFullRebuild(ctx context.Context, env *Env, states []string, runs int) (FullResult, error) {
	res := FullResult{States: states, Stats: map[string]map[string]Stat{}}
	env.log.InfoContext(ctx, "bench: full rebuild: creating the materialized view")
	if err := CreateMatview(ctx, env); err != nil {
		return res, err
	}
	defer func() { _ = DropMatview(context.WithoutCancel(ctx), env) }()
	times := map[string]map[string][]time.Duration{}
	for run := range runs {
		res.Loads = append(res.Loads, LoadAvg())
		for _, state := range states {
			if times[state] == nil {
				times[state] = map[string][]time.Duration{}
			}
			for _, v := range FullVariants {
				if v == FullMatview && state == StateStale {
					continue
				}
				if err := PrepareFull(ctx, env, v, state); err != nil {
					return res, err
				}
				start := time.Now()
				if err := RebuildFull(ctx, env, v, state); err != nil {
					return res, err
				}
				d := time.Since(start)
				times[state][v] = append(times[state][v], d)
				env.log.InfoContext(ctx, "bench: full rebuild", slog.Int("run", run+1), slog.String("state", state),
					slog.String("variant", v), slog.Duration("took", d.Round(time.Millisecond)))
				if run == 0 && v != FullMatview {
					if err := checkFull(ctx, env); err != nil {
						return res, fmt.Errorf("%s (%s): %w", v, state, err)
					}
				}
			}
		}
	}
	for state, m := range times {
		res.Stats[state] = map[string]Stat{}
		for v, ds := range m {
			res.Stats[state][v] = Summarize(ds)
		}
	}
	return res, nil
}

// MeasurePeakRSS empties tv_post, then runs `bin sync --entity post --all`
// on the benchmark database as a child process and returns its peak
// resident set size (its VmHWM, polled while it runs) and wall time,
// after checking tv_post against tv_post_source. bin is a tvsync
// executable.
func MeasurePeakRSS(ctx context.Context, env *Env, bin string) (rss int64, took time.Duration, err error) {
	if _, err := env.Pool.Exec(ctx, "TRUNCATE tv_post"); err != nil {
		return 0, 0, fmt.Errorf("bench: peak RSS: truncate tv_post: %w", err)
	}
	if rss, took, err = fullSyncChild(ctx, env, bin); err != nil {
		return 0, 0, err
	}
	if err := checkFull(ctx, env); err != nil {
		return 0, took, fmt.Errorf("bench: after the child's full sync: %w", err)
	}
	return rss, took, nil
}

// fullSyncChild runs `bin sync --entity post --all` on env's database as
// a child process and returns its peak RSS and wall time.
func fullSyncChild(ctx context.Context, env *Env, bin string) (rss int64, took time.Duration, err error) {
	env.log.InfoContext(ctx, "bench: full sync in a child process", slog.String("bin", bin), slog.Int("posts", len(env.PostIDs)))
	cmd := exec.CommandContext(ctx, bin, "--database-url", env.URL, "--log-level", "warn", "sync", "--entity", "post", "--all")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	rss, err = runPeakRSS(cmd)
	if err != nil {
		return 0, 0, fmt.Errorf("bench: %s sync --entity post --all: %w: %s", bin, err, out.String())
	}
	return rss, time.Since(start), nil
}

// rssPoll is how often runPeakRSS reads the child's high-water mark.
const rssPoll = 10 * time.Millisecond

// runPeakRSS runs cmd and returns the peak resident set size of its
// process: the VmHWM of /proc/PID/status, read every rssPoll while it runs
// (the mark only grows, so the last read is within rssPoll of the end).
// The child's rusage ru_maxrss cannot serve: Go starts children with
// vfork, and Linux folds the parent's memory, which the child shares until
// exec, into the child's ru_maxrss, so it reports the benchmark's own size.
func runPeakRSS(cmd *exec.Cmd) (int64, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	tick := time.NewTicker(rssPoll)
	defer tick.Stop()
	for {
		if hwm, ok := readVmHWM(status); ok && hwm > peak {
			peak = hwm
		}
		select {
		case err := <-done:
			if err != nil {
				return 0, err
			}
			if peak == 0 {
				return 0, errors.New("bench: could not read the child's VmHWM")
			}
			return peak, nil
		case <-tick.C:
		}
	}
}

// readVmHWM returns the VmHWM line of a /proc/PID/status file in bytes.
func readVmHWM(path string) (int64, bool) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kib * 1024, err == nil
		}
	}
	return 0, false
}
