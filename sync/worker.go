package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/sync/internal/dbsqlc"
)

// WorkerConfig tunes a Worker. The zero value is usable.
type WorkerConfig struct {
	// BatchSize is how many queued rows one transaction takes; zero means
	// DefaultWorkerBatchSize, a negative value is an error of NewWorker.
	BatchSize int
	// PollInterval is how often the worker looks at the queue when no
	// notification arrives; zero means DefaultPollInterval, a negative
	// value is an error of NewWorker. It is the bound for a deferred row
	// whose wake-up was lost (its writer died between the commit and the
	// engine's NOTIFY after it, or the NOTIFY failed): the row committed
	// with the write, and a running worker takes it at its next poll,
	// within PollInterval of the commit plus the batch in hand.
	PollInterval time.Duration
	// MaxAttempts is how many failed attempts park a row as dead; zero
	// means DefaultMaxAttempts, a negative value is an error of NewWorker.
	MaxAttempts int
	// MaxBackoff caps the exponential delay between attempts; zero means
	// DefaultMaxBackoff, a negative value is an error of NewWorker.
	MaxBackoff time.Duration
	// LockTimeout bounds each lock wait of a batch (PostgreSQL's
	// lock_timeout, set for the batch's transaction only): a batch that waits
	// longer for a table lock (an ALTER TABLE, a rebuild's swap) or for the
	// advisory locks of a sync of the same ids fails, and its rows stay
	// queued, not charged an attempt, for a later try. Zero means
	// DefaultLockTimeout; negative means no limit.
	LockTimeout time.Duration
	// StatementTimeout bounds each statement of a batch (PostgreSQL's
	// statement_timeout, for the batch's transaction only); a batch that runs
	// over it fails and its rows are charged an attempt. Zero means
	// DefaultStatementTimeout; negative means no limit. With LockTimeout it bounds how long
	// Run takes to return once its context is cancelled.
	StatementTimeout time.Duration
	// ListenURL, when set, is the URL of the connection the worker LISTENs
	// on: a direct one to the primary when the pool goes through a
	// transaction pooler (PgBouncer), which cannot carry LISTEN. It is used
	// as it is: the pool's BeforeConnect and AfterConnect hooks do not
	// apply to it. Empty: a connection configured as the pool's, which Run
	// first checks is a real session; through a pooler, Run returns an
	// error wrapping ErrPooledSession at once.
	ListenURL string
}

// The defaults of WorkerConfig's fields, used where a field is zero.
const (
	// DefaultWorkerBatchSize is WorkerConfig.BatchSize's default: about 100
	// ids per entity, few enough to be locked id by id, so that workers
	// running at once do not wait for each other.
	DefaultWorkerBatchSize = 300
	// DefaultPollInterval is WorkerConfig.PollInterval's default.
	DefaultPollInterval = time.Second
	// DefaultMaxAttempts is WorkerConfig.MaxAttempts's default.
	DefaultMaxAttempts = 10
	// DefaultMaxBackoff is WorkerConfig.MaxBackoff's default.
	DefaultMaxBackoff = 5 * time.Minute
	// DefaultLockTimeout is WorkerConfig.LockTimeout's default.
	DefaultLockTimeout = 5 * time.Second
	// DefaultStatementTimeout is WorkerConfig.StatementTimeout's default.
	DefaultStatementTimeout = 30 * time.Second
)

// validate checks the fields of c that can be wrong: each error names the
// field, its value and what it may be.
func (c WorkerConfig) validate() error {
	var errs []error
	if c.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("tvsync: WorkerConfig.BatchSize: %d: want > 0 (or 0 for DefaultWorkerBatchSize, %d)", c.BatchSize, DefaultWorkerBatchSize))
	}
	if c.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("tvsync: WorkerConfig.PollInterval: %v: want > 0 (or 0 for DefaultPollInterval, %v)", c.PollInterval, DefaultPollInterval))
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("tvsync: WorkerConfig.MaxAttempts: %d: want > 0 (or 0 for DefaultMaxAttempts, %d)", c.MaxAttempts, DefaultMaxAttempts))
	}
	if c.MaxBackoff < 0 {
		errs = append(errs, fmt.Errorf("tvsync: WorkerConfig.MaxBackoff: %v: want > 0 (or 0 for DefaultMaxBackoff, %v)", c.MaxBackoff, DefaultMaxBackoff))
	}
	return errors.Join(errs...)
}

// Worker drains the durable tvsync.sync_queue: it takes batches of ready rows with
// FOR UPDATE SKIP LOCKED, syncs each batch set-based, and removes the rows in
// the same transaction, so a crash at any point loses nothing. Any number of
// workers, in any number of processes, can run at once.
//
// A row naming an entity the engine does not register (queued by a newer
// version during a rolling deploy) is not synced, not removed and not
// parked: it is charged an attempt with its own backoff and an error naming
// the entity, so it never blocks the rows claimed with it, and a worker that
// registers the entity syncs it. QueueStats counts such rows.
type Worker struct {
	engine *Engine
	pool   *pgxpool.Pool
	cfg    WorkerConfig
	log    *slog.Logger
	// drains counts the batch transactions begun; tests read it.
	drains atomic.Int64
}

const (
	// reconnectMin and reconnectMax bound the exponential delay between
	// attempts to reach the database while it is unreachable.
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 10 * time.Second
	// recordTimeout bounds the transaction that records a failed attempt
	// after the batch's own transaction was lost.
	recordTimeout = 10 * time.Second
	// neverPark is the max_attempts of rows that are kept however often
	// they fail (those of entities this worker does not register).
	neverPark = math.MaxInt32
)

// NewWorker returns a worker that syncs with e on connections of pool and
// listens for notifications on a connection of its own, configured as the
// pool's connections are. It fails when e or pool is nil, or a field of cfg
// is invalid (the error names it).
func NewWorker(e *Engine, pool *pgxpool.Pool, cfg WorkerConfig) (*Worker, error) {
	if e == nil || pool == nil {
		return nil, errors.New("tvsync: NewWorker needs an engine and a pool")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultWorkerBatchSize
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.LockTimeout == 0 {
		cfg.LockTimeout = DefaultLockTimeout
	}
	if cfg.StatementTimeout == 0 {
		cfg.StatementTimeout = DefaultStatementTimeout
	}
	return &Worker{engine: e, pool: pool, cfg: cfg, log: e.logger()}, nil
}

// Run drains the queue until ctx is cancelled, waking on notifications and
// polling as a fallback; notifications that arrive while a batch runs are
// merged into one wake-up. LISTEN runs on a connection of its own, outside
// the pool, so a pool of one connection is enough.
//
// While the database cannot be reached, at start as later, Run retries with
// a backoff (100ms doubling to 10s) and logs the outage once and the
// reconnection; it never returns because of it. On cancellation it finishes
// the batch in hand (its transaction is not cancelled, but bounded by
// LockTimeout and StatementTimeout) and returns nil.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.checkListener(ctx); err != nil {
		return err
	}
	wake := make(chan struct{}, 1)
	listenCtx, stopListening := context.WithCancel(ctx)
	var listener gosync.WaitGroup
	listener.Go(func() { w.listen(listenCtx, wake) })
	defer func() {
		stopListening()
		listener.Wait()
	}()

	var down time.Time // when the database became unreachable; zero while it is reachable
	delay := reconnectMin
	for ctx.Err() == nil {
		conn, err := w.pool.Acquire(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if down.IsZero() {
				down = time.Now()
				w.log.WarnContext(ctx, "tvsync: worker cannot reach the database; retrying", slog.Any("error", err))
			} else {
				w.log.DebugContext(ctx, "tvsync: worker still cannot reach the database", slog.Any("error", err), slog.Duration("retry_in", delay))
			}
			sleep(ctx, nil, delay)
			delay = min(2*delay, reconnectMax)
			continue
		}
		if !down.IsZero() {
			w.log.InfoContext(ctx, "tvsync: worker reconnected to the database", slog.Duration("down_for", time.Since(down)))
			down, delay = time.Time{}, reconnectMin
		}
		r, err := w.drain(context.WithoutCancel(ctx), conn)
		if err != nil {
			w.log.ErrorContext(ctx, "tvsync: worker batch failed", slog.Any("error", err))
		}
		if (r.Claimed == w.cfg.BatchSize || r.Queued > 0) && err == nil {
			continue // more is probably ready
		}
		sleep(ctx, wake, w.cfg.PollInterval)
	}
	return nil
}

// sleep waits for d, a wake-up (when wake is not nil) or the end of ctx.
func sleep(ctx context.Context, wake <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
}

// listen keeps a LISTEN connection open until ctx ends and turns every
// notification into a wake-up; wake holds one at most, so any number of
// notifications that arrive while a batch runs wake the worker once. It
// reconnects with a backoff when the connection is lost, and wakes the
// worker once it listens again, for the rows queued meanwhile.
func (w *Worker) listen(ctx context.Context, wake chan<- struct{}) {
	poke := func() {
		select {
		case wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	delay := reconnectMin
	lost := false
	for ctx.Err() == nil {
		conn, err := w.connectListener(ctx)
		if err != nil {
			if ctx.Err() == nil {
				w.log.DebugContext(ctx, "tvsync: worker cannot LISTEN; polling meanwhile", slog.Any("error", err), slog.Duration("retry_in", delay))
				sleep(ctx, nil, delay)
				delay = min(2*delay, reconnectMax)
			}
			continue
		}
		if lost {
			w.log.InfoContext(ctx, "tvsync: worker listens for notifications again")
		}
		delay = reconnectMin
		poke()
		// Waiting without a context spares each notification a context
		// watch (a goroutine); ctx's end interrupts the read once instead.
		interrupt := context.AfterFunc(ctx, func() { _ = conn.PgConn().Conn().SetDeadline(time.Now()) })
		for {
			if _, err = conn.WaitForNotification(context.Background()); err != nil {
				break
			}
			poke()
		}
		interrupt()
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = conn.Close(closeCtx)
		cancel()
		if ctx.Err() == nil {
			lost = true
			w.log.WarnContext(ctx, "tvsync: worker lost its LISTEN connection; polling until it is back", slog.Any("error", err))
		}
	}
}

// connectListener opens the LISTEN connection (see dial) and listens on
// the engine's queueChannel.
func (w *Worker) connectListener(ctx context.Context) (*pgx.Conn, error) {
	conn, err := w.dial(ctx, w.cfg.ListenURL)
	if err != nil {
		return nil, err
	}
	channel := w.engine.listenChannel()
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		_ = conn.Close(ctx)
		return nil, fmt.Errorf("worker: LISTEN %s: %w", channel, err)
	}
	return conn, nil
}

// DrainResult says what the worker did with the rows it claimed. Every
// claimed row counts once in Synced, Failed, Dead or Kept.
type DrainResult struct {
	// Claimed is how many queued rows were taken.
	Claimed int
	// Synced is how many were synced and removed.
	Synced int
	// Failed is how many failed and wait out a backoff for a retry.
	Failed int
	// Dead is how many failed once too often and were parked as dead.
	Dead int
	// Kept is how many name an entity this worker does not register, or an
	// id that is not a key of their entity's kind: kept, with an error.
	Kept int
	// Queued is how many rows the synced ones queued for their dependents.
	Queued int
}

func (r *DrainResult) add(o DrainResult) {
	r.Claimed += o.Claimed
	r.Synced += o.Synced
	r.Failed += o.Failed
	r.Dead += o.Dead
	r.Kept += o.Kept
	r.Queued += o.Queued
}

// Drain runs batches until no ready row is left, the dependents the
// batches queued included, and reports what it did. Rows that fail are
// retried later (after their backoff), not here.
func (w *Worker) Drain(ctx context.Context) (DrainResult, error) {
	var total DrainResult
	for {
		r, err := w.drainOnce(ctx)
		total.add(r)
		if err != nil || (r.Claimed < w.cfg.BatchSize && r.Queued == 0) {
			return total, err
		}
	}
}

// drainOnce takes one batch of ready rows, syncs it and removes the synced
// rows, all in one transaction on one connection of the pool; it reports
// what it did with them. The dependents of what the batch changed are
// queued in the same transaction, for the next batches. Ids that fail are
// isolated from the rest of the batch (in savepoints) and their rows
// rescheduled with an exponential backoff, or parked as dead after
// MaxAttempts. Rows of entities the engine does not register are kept and
// rescheduled (see Worker); they are not an error of the batch.
func (w *Worker) drainOnce(ctx context.Context) (DrainResult, error) {
	conn, err := w.pool.Acquire(ctx)
	if err != nil {
		return DrainResult{}, fmt.Errorf("worker: acquire a connection: %w", err)
	}
	return w.drain(ctx, conn)
}

// drain is drainOnce on conn, which it releases.
func (w *Worker) drain(ctx context.Context, conn *pgxpool.Conn) (res DrainResult, err error) {
	w.drains.Add(1)
	release := gosync.OnceFunc(conn.Release)
	defer release()
	tx, rows, err := w.engine.claimQueued(ctx, conn, w.cfg.BatchSize, w.cfg.LockTimeout, w.cfg.StatementTimeout)
	if err != nil {
		return res, err
	}
	settled := false // committed by settleQueued, in the batch's last round trip
	defer func() {
		if !settled {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}() // runs before release
	res.Claimed = len(rows)
	if len(rows) == 0 {
		return res, nil
	}
	claimed := newBatch()
	unknown, malformed := textIDs{}, textIDs{}
	attempts := map[int64]int32{} // per claimed row, before this batch
	for _, r := range rows {
		attempts[r.Seq] = r.Attempts
		ent, err := w.engine.entity(r.Entity)
		if err != nil {
			unknown.add(r.Entity, r.EntityID, r.Seq)
			continue
		}
		id, err := ParseID(ent.Key, r.EntityID)
		if err != nil || id.String() != r.EntityID {
			// Not the canonical text of a key of the entity's kind: written
			// by hand, or by a version registering another kind. It can
			// never sync; it fails alone and is parked in time.
			malformed.add(r.Entity, r.EntityID, r.Seq)
			continue
		}
		claimed.addRows(queuedRow{seq: r.Seq, entity: r.Entity, id: id, cascade: r.Cascade, origin: origin{r.OriginLo, r.OriginHi}})
	}
	res.Kept = unknown.len() + malformed.len()
	var syncErr error
	var report Report
	if claimed.size() > 0 {
		report, syncErr = w.engine.syncIsolated(ctx, tx, ModeDeferred, claimed)
	}
	var failed *FailedError
	if syncErr != nil && !errors.As(syncErr, &failed) {
		// The transaction is unusable (connection lost, a timeout, a bug):
		// record the failed attempts in a new one, on a fresh connection
		// (the pool may have only this one).
		_ = tx.Rollback(context.WithoutCancel(ctx))
		release()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		var params []dbsqlc.QueueFailParams
		if !lockTimedOut(syncErr) {
			// A lock wait that timed out is no fault of the rows: they stay
			// ready as they are.
			params = append(params, w.failParams(claimed.seqList(), syncErr.Error(), w.cfg.MaxAttempts))
			w.countFailed(&res, claimed.seqList(), attempts)
		}
		params = append(params, w.unknownParams(unknown)...)
		params = append(params, w.malformedParams(malformed)...)
		if ferr := w.recordFailures(rctx, w.pool, params); ferr != nil {
			return res, errors.Join(syncErr, ferr)
		}
		w.logKept(ctx, unknown, malformed)
		return res, syncErr
	}
	done := claimed
	var params []dbsqlc.QueueFailParams
	if failed != nil {
		bad := idSet{}
		for name, ids := range failed.IDs {
			bad.add(name, ids...)
		}
		badRows := claimed.sub(bad)
		keep := idSet{}
		for name, m := range claimed.ids {
			for id := range m {
				if !bad.has(name, id) {
					keep.add(name, id)
				}
			}
		}
		done = claimed.sub(keep)
		params = append(params, w.failParams(badRows.seqList(), failed.Cause.Error(), w.cfg.MaxAttempts))
		w.countFailed(&res, badRows.seqList(), attempts)
		// A failing id that the batch also queued as a dependent of
		// another: that row shares the failed attempt (and its backoff), so
		// it does not retry the id at once.
		var again []int64
		for _, r := range report.queued.rows {
			if bad.has(r.entity, r.id) {
				again = append(again, r.seq)
			}
		}
		if len(again) > 0 {
			params = append(params, w.failParams(again, failed.Cause.Error(), w.cfg.MaxAttempts))
		}
	}
	params = append(params, w.unknownParams(unknown)...)
	params = append(params, w.malformedParams(malformed)...)
	if err := w.engine.settleQueued(ctx, tx, params, done); err != nil {
		return res, err
	}
	settled = true
	res.Synced = len(done.seqList())
	res.Queued = report.queued.Len()
	w.logKept(ctx, unknown, malformed)
	return res, syncErr
}

// countFailed adds the rows of seqs to res as failed, or dead when this
// attempt parks them.
func (w *Worker) countFailed(res *DrainResult, seqs []int64, attempts map[int64]int32) {
	for _, s := range seqs {
		if int(attempts[s])+1 >= w.cfg.MaxAttempts {
			res.Dead++
		} else {
			res.Failed++
		}
	}
}

// lockTimedOut reports whether err is a lock wait cut short by lock_timeout.
func lockTimedOut(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03"
}

// failParams records a failed attempt, with lastError, on the rows of
// seqs: a backoff, or dead after maxAttempts (the engine fills in its
// namespace).
func (w *Worker) failParams(seqs []int64, lastError string, maxAttempts int) dbsqlc.QueueFailParams {
	return dbsqlc.QueueFailParams{Seqs: seqs, LastError: lastError, MaxAttempts: int32(maxAttempts), MaxBackoffSeconds: w.cfg.MaxBackoff.Seconds()}
}

// unknownParams records a failed attempt on rows of entities the engine does
// not register, with an error naming the entity; they are never parked.
func (w *Worker) unknownParams(rows textIDs) []dbsqlc.QueueFailParams {
	var params []dbsqlc.QueueFailParams
	for _, name := range rows.names() {
		params = append(params, w.failParams(rows.seqs(name), w.unknownError(name), neverPark))
	}
	return params
}

// malformedParams records a failed attempt on rows whose id is not the
// canonical text of a key of their entity's kind, with an error naming the
// entity and the id; they are parked after MaxAttempts like any failing row.
func (w *Worker) malformedParams(rows textIDs) []dbsqlc.QueueFailParams {
	var params []dbsqlc.QueueFailParams
	for _, name := range rows.names() {
		ent, _ := w.engine.entity(name) // registered: only such rows are malformed
		kind := ent.Key
		for _, r := range rows[name] {
			params = append(params, w.failParams([]int64{r.seq},
				fmt.Sprintf("%v: entity %q has %v keys: %q is not the canonical text of one", ErrKeyKind, name, kind, r.id), w.cfg.MaxAttempts))
		}
	}
	return params
}

// textIDs holds queued rows as sync_queue stores them, per entity, for the
// rows the worker cannot parse into IDs.
type textIDs map[string][]textRow

// textRow is a queued row's id as stored, and its seq.
type textRow struct {
	id  string
	seq int64
}

func (t textIDs) add(entity, id string, seq int64) { t[entity] = append(t[entity], textRow{id, seq}) }

// len is how many rows t holds.
func (t textIDs) len() int {
	n := 0
	for _, rows := range t {
		n += len(rows)
	}
	return n
}

// seqs returns the seqs of entity's rows.
func (t textIDs) seqs(entity string) []int64 {
	out := make([]int64, len(t[entity]))
	for i, r := range t[entity] {
		out[i] = r.seq
	}
	return out
}

// ids returns the ids of entity's rows.
func (t textIDs) ids(entity string) []string {
	out := make([]string, len(t[entity]))
	for i, r := range t[entity] {
		out[i] = r.id
	}
	return out
}

// names returns the entity names, sorted.
func (t textIDs) names() []string {
	names := make([]string, 0, len(t))
	for name := range t {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func (w *Worker) unknownError(entity string) string {
	return fmt.Sprintf("%v %q (registered: %s): kept for a worker that registers it",
		ErrUnknownEntity, entity, w.engine.registered())
}

// recordFailures records the failed attempts of params on conn.
func (w *Worker) recordFailures(ctx context.Context, conn DB, params []dbsqlc.QueueFailParams) error {
	return w.engine.failQueued(ctx, conn, params)
}

// logKept warns about claimed rows the worker could not sync: those of
// entities it does not register, and those whose id is malformed.
func (w *Worker) logKept(ctx context.Context, unknown, malformed textIDs) {
	for _, name := range unknown.names() {
		w.log.WarnContext(ctx, "tvsync: worker kept queued rows of an entity it does not register",
			slog.String("entity", name), slog.Int("rows", len(unknown[name])), slog.String("registered", w.engine.registered()))
	}
	for _, name := range malformed.names() {
		ent, _ := w.engine.entity(name) // registered: only such rows are malformed
		w.log.WarnContext(ctx, "tvsync: worker failed queued rows whose id is not a key of their entity's kind",
			slog.String("entity", name), slog.String("key", ent.Key.String()), slog.Any("ids", malformed[name]))
	}
}
