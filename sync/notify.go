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
// per interval and never two at once (a send that waits for the lock or for
// a connection must not let others pile up behind it), each in a statement
// of its own on a pooled connection (taken for that statement only), and
// always begun after the commits that asked for it. A wake-up is only a
// hint: a row whose wake-up is lost (the process dies right after its
// commit, the NOTIFY fails) is durable, and a Worker polling every
// WorkerConfig.PollInterval takes it at its next poll.
type notifier struct {
	e        *Engine
	interval time.Duration
	// sendFn sends one wake-up; nil means the NOTIFY. Tests replace it:
	// the crash test (SetWakeUpSendForTest) holds every wake-up in it, so
	// that its writer dies after its commits and before a NOTIFY is sent.
	sendFn func(ctx context.Context) error

	mu       gosync.Mutex
	pending  bool      // a wake-up was asked for and no send has begun since
	inFlight bool      // a send is running
	last     time.Time // when the last send began
}

// wake asks for a NOTIFY after the caller's commit: at once when none was
// sent within the interval and none is running, otherwise as soon as the
// interval has passed and the running one has ended; wake-ups asked for
// before a send begins share it. It never blocks.
func (n *notifier) wake() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pending {
		return // a send that has not begun yet follows our commit
	}
	n.pending = true
	if !n.inFlight {
		n.scheduleLocked()
	}
}

// scheduleLocked starts the next send once the interval since the last one
// has passed; n.mu is held.
func (n *notifier) scheduleLocked() {
	n.inFlight = true // from now: only this send may begin
	if delay := time.Until(n.last.Add(n.interval)); delay > 0 {
		time.AfterFunc(delay, n.send)
		return
	}
	go n.send()
}

// send sends one NOTIFY on the engine's channel, on a connection of the
// pool held for that statement only, then the next one if a wake-up was
// asked for meanwhile. A failure is logged and otherwise ignored: the
// workers' poll is the floor.
func (n *notifier) send() {
	n.mu.Lock()
	n.pending = false
	n.last = time.Now()
	n.mu.Unlock()
	// Bounded: a wake-up that cannot be sent soon is worth no more than the
	// poll that replaces it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	var err error
	if n.sendFn != nil {
		err = n.sendFn(ctx)
	} else {
		err = n.e.queries.WaitNotify(ctx, n.e.pool, n.e.listenChannel())
	}
	cancel()
	if err != nil {
		n.e.log.Debug("tvsync: could not wake the workers; they find the rows at their next poll",
			slog.String("channel", n.e.listenChannel()), slog.Any("error", err))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.inFlight = false
	if n.pending {
		n.scheduleLocked()
	}
}

// wakeWorkers asks for the engine's workers to be woken, after the caller
// has committed rows to tvsync.sync_queue without a NOTIFY: one NOTIFY on
// the engine's queueChannel, sent outside the caller's transaction on a
// connection of the engine's pool, at most one per Config.NotifyInterval
// (wake-ups asked for meanwhile share the next one, which is sent after
// they were asked for). It returns at once. Call it only after the commit:
// a worker woken before it would not see the rows (it would find them at
// its next poll, within WorkerConfig.PollInterval). Nothing depends on the
// wake-up arriving: the rows are durable and a polling worker takes them.
func (e *Engine) wakeWorkers() { e.notify.wake() }

// notifiesInTransaction reports whether the engine wakes its workers with a
// NOTIFY inside each deferred write transaction (Config.NotifyInTransaction)
// rather than after the commit (wakeWorkers).
func (e *Engine) notifiesInTransaction() bool { return e.cfg.NotifyInTransaction }
