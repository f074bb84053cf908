package sync

import (
	"context"
	"log/slog"
	gosync "sync"
	"time"
)

// DefaultNotifyInterval is Config.NotifyInterval's default: the least time
// between two wake-ups an engine sends its workers.
const DefaultNotifyInterval = 2 * time.Millisecond

// notifier wakes an engine's workers after deferred commits, outside the
// write transactions: PostgreSQL serializes the commits of every
// transaction that sent NOTIFY behind one database-wide lock
// (PreCommit_Notify), so a NOTIFY in each deferred write would make those
// writes commit one at a time. It coalesces the wake-ups: at most one NOTIFY
// per interval, sent in a statement of its own on a pooled connection
// (taken for that statement only), always after the commits that asked for
// it. A wake-up is only a hint: a row whose wake-up is lost (the process
// dies right after its commit, the NOTIFY fails) is durable, and a Worker
// polling every WorkerConfig.PollInterval takes it at its next poll.
type notifier struct {
	e        *Engine
	interval time.Duration

	mu        gosync.Mutex
	scheduled bool      // a send is due and has not begun
	last      time.Time // when the last send began
}

// wake asks for a NOTIFY after the caller's commit: at once when none was
// sent within the interval, otherwise at the end of it; wake-ups asked for
// before a due send begins share it. It never blocks.
func (n *notifier) wake() {
	n.mu.Lock()
	if n.scheduled {
		n.mu.Unlock()
		return // a send that has not begun yet follows our commit
	}
	n.scheduled = true
	delay := time.Until(n.last.Add(n.interval))
	n.mu.Unlock()
	if delay <= 0 {
		go n.send()
		return
	}
	time.AfterFunc(delay, n.send)
}

// send sends one NOTIFY on the engine's channel, on a connection of the
// pool held for that statement only. A failure is logged and otherwise
// ignored: the workers' poll is the floor.
func (n *notifier) send() {
	n.mu.Lock()
	n.scheduled = false
	n.last = time.Now()
	n.mu.Unlock()
	// Bounded: a wake-up that cannot be sent soon is worth no more than the
	// poll that replaces it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.e.queries.WaitNotify(ctx, n.e.pool, n.e.QueueChannel()); err != nil {
		n.e.log.DebugContext(ctx, "tvsync: could not wake the workers; they find the rows at their next poll",
			slog.String("channel", n.e.QueueChannel()), slog.Any("error", err))
	}
}

// WakeWorkers asks for the engine's workers to be woken, after the caller
// has committed rows to tvsync.sync_queue without a NOTIFY: one NOTIFY on
// the engine's QueueChannel, sent outside the caller's transaction on a
// connection of the engine's pool, at most one per Config.NotifyInterval
// (wake-ups asked for meanwhile share the next one, which is sent after
// they were asked for). It returns at once. Call it only after the commit:
// a worker woken before it would not see the rows (it would find them at
// its next poll, within WorkerConfig.PollInterval). Nothing depends on the
// wake-up arriving: the rows are durable and a polling worker takes them.
func (e *Engine) WakeWorkers() { e.notify.wake() }

// NotifiesInTransaction reports whether the engine wakes its workers with a
// NOTIFY inside each deferred write transaction (Config.NotifyInTransaction)
// rather than after the commit (WakeWorkers).
func (e *Engine) NotifiesInTransaction() bool { return e.cfg.NotifyInTransaction }
