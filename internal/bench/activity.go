package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// activitySQL lists what the database's busy backends (and the server's
// background processes) are doing: role, state, wait event. Idle client
// connections and background processes idling in their main loop
// (wait_event_type Activity) are left out.
const activitySQL = `
SELECT coalesce(nullif(application_name, ''), backend_type), coalesce(state, ''),
       coalesce(wait_event_type, ''), coalesce(wait_event, '')
FROM pg_stat_activity
WHERE pid <> pg_backend_pid()
  AND (datname = current_database() OR datname IS NULL)
  AND state IS DISTINCT FROM 'idle'
  AND wait_event_type IS DISTINCT FROM 'Activity'`

// queueSQL reads sync_queue's depth and its oldest pending row's age.
const queueSQL = `
SELECT count(*) FILTER (WHERE NOT dead),
       coalesce(extract(epoch FROM clock_timestamp() - min(enqueued_at) FILTER (WHERE NOT dead)), 0)::float8
FROM tvsync.sync_queue`

// sampleResult is what sampleActivity saw.
type sampleResult struct {
	counts    map[WaitEvent]int
	samples   int
	queueMax  int64
	oldestMax time.Duration
	err       error
}

// top returns the n most frequent wait events, most frequent first.
func (s sampleResult) top(n int) []WaitEvent {
	out := make([]WaitEvent, 0, len(s.counts))
	for k, c := range s.counts {
		k.Count, k.PerSample = c, float64(c)/float64(max(s.samples, 1))
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b WaitEvent) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Role, b.Role), cmp.Compare(a.Event, b.Event), cmp.Compare(a.State, b.State))
	})
	return out[:min(n, len(out))]
}

// sampleActivity samples pg_stat_activity of database name every 10 ms,
// and sync_queue every 50 ms, on a connection of its own, until ctx ends.
func sampleActivity(ctx context.Context, env *Env, name string) sampleResult {
	res := sampleResult{counts: map[WaitEvent]int{}}
	d, err := env.open(ctx, name, connOptions{appName: appSampler, maxConns: 1})
	if err != nil {
		res.err = err
		return res
	}
	defer d.Pool.Close()
	conn, err := d.Pool.Acquire(ctx)
	if err != nil {
		res.err = fmt.Errorf("bench: sample activity: acquire: %w", err)
		return res
	}
	defer conn.Release()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return res
		case <-tick.C:
		}
		rows, err := conn.Query(ctx, activitySQL)
		if err == nil {
			var seen []WaitEvent
			seen, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (WaitEvent, error) {
				var role, state, typ, event string
				if err := r.Scan(&role, &state, &typ, &event); err != nil {
					return WaitEvent{}, err
				}
				w := WaitEvent{Role: strings.TrimPrefix(role, "tvsync-bench-"), State: state, Event: "CPU"}
				if typ != "" {
					w.Event = typ + ":" + event
				}
				return w, nil
			})
			if err == nil {
				res.samples++
				for _, w := range seen {
					res.counts[w]++
				}
			}
		}
		if err == nil && i%5 == 0 {
			var depth int64
			var oldest float64
			if err = conn.QueryRow(ctx, queueSQL).Scan(&depth, &oldest); err == nil {
				res.queueMax = max(res.queueMax, depth)
				res.oldestMax = max(res.oldestMax, time.Duration(oldest*float64(time.Second)))
			}
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return res
			}
			res.err = fmt.Errorf("bench: sample activity: %w", err)
			return res
		}
	}
}

// waitEvents renders the top wait events as "role state event ×0.42; …".
func waitEvents(ws []WaitEvent, n int) string {
	if len(ws) == 0 {
		return "–"
	}
	var parts []string
	for _, w := range ws[:min(n, len(ws))] {
		state := w.State
		if state == "" {
			state = "–"
		}
		parts = append(parts, fmt.Sprintf("%s %s %s ×%.2f", w.Role, state, w.Event, w.PerSample))
	}
	return strings.Join(parts, "; ")
}
