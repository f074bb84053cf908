// Package sync keeps tvsync's denormalized query tables (tv_*) in step with
// the normalized command tables (tb_*) through explicit, set-based sync.
//
// The Engine is domain-agnostic: each entity is registered with the sqlc
// statements that refresh and delete its tv_ rows for a batch of ids, the
// statements that list its ids for full sync, and the cascades that say which
// other entities embed it. Sync expands the cascades, removes duplicate ids,
// takes per-entity advisory locks so overlapping syncs converge on the newest
// committed data, and sends every entity's batch to PostgreSQL in one round
// trip.
package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tvsync/tvsync/db"
)

// Mode labels why a sync runs. It is recorded in tvsync.sync_log and in metrics; the
// statements run are the same in every mode.
type Mode string

// The sync modes.
const (
	// ModeIncremental syncs the entities a write just changed.
	ModeIncremental Mode = "incremental"
	// ModeFull rebuilds every row of an entity.
	ModeFull Mode = "full"
	// ModeDeferred syncs entities drained from the durable queue by a Worker.
	ModeDeferred Mode = "deferred"
	// ModeRepair syncs rows that verification found missing, stale or orphaned.
	ModeRepair Mode = "repair"
)

// Valid reports whether m is one of the defined modes.
func (m Mode) Valid() bool {
	switch m {
	case ModeIncremental, ModeFull, ModeDeferred, ModeRepair:
		return true
	}
	return false
}

// Errors returned by the engine. Test for them with errors.Is.
var (
	// ErrUnknownEntity is returned when a change names an entity that is not registered.
	ErrUnknownEntity = errors.New("tvsync: unknown entity")
	// ErrInvalidMode is returned for a Mode that is not one of the defined modes.
	ErrInvalidMode = errors.New("tvsync: invalid sync mode")
	// ErrSyncFailed is wrapped by the error Sync returns when some ids could
	// not be synced while the others were; see FailedError.
	ErrSyncFailed = errors.New("tvsync: some ids failed to sync")
)

// DB is what the engine needs of a connection, a pool or a transaction: the
// method set of sqlc's DBTX. *pgxpool.Pool, *pgx.Conn and pgx.Tx satisfy it.
type DB interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}

// Change names ids of one entity whose tv_ rows must be brought up to date.
// Ids whose tb_ row exists are refreshed; ids whose tb_ row is gone have their
// tv_ row deleted. With Cascade set, the entities that embed these ids (as
// registered in Entity.Cascades) are synced too.
type Change struct {
	Entity  string
	IDs     []uuid.UUID
	Cascade bool
}

// RefreshResult is what an entity's refresh statement reports.
type RefreshResult struct {
	// Found is how many of the requested ids exist in the command table.
	Found int
	// Upserted is how many tv_ rows were inserted or changed.
	Upserted int
	// FinishedAt is the database clock when the statement finished.
	FinishedAt time.Time
}

// DeleteResult is what an entity's delete statement reports.
type DeleteResult struct {
	// Deleted is how many tv_ rows were removed because their tb_ row is gone.
	Deleted int
	// FinishedAt is the database clock when the statement finished.
	FinishedAt time.Time
}

// Entity registers one tv_ table with the engine. Refresh and DeleteMissing
// queue one set-based statement each on the pipeline (call the sqlc batch
// method with the pipeline as its connection) and return a function that reads
// its result after the pipeline has been sent.
type Entity struct {
	// Name identifies the entity in changes, logs and metrics ("post").
	Name string
	// View is the tv_ table the entity maintains ("tv_post").
	View string
	// Refresh queues the upsert of the tv_ rows of ids from the tb_ tables.
	Refresh func(p *Pipeline, ids []uuid.UUID) func() (RefreshResult, error)
	// RefreshWide, optional, is Refresh planned for large batches (set-based
	// aggregation instead of per-id lookups); the engine uses it from
	// Config.WideThreshold ids up. It must produce the same documents.
	RefreshWide func(p *Pipeline, ids []uuid.UUID) func() (RefreshResult, error)
	// RefreshRange and DeleteMissingRange, optional (both or neither), are
	// Refresh and DeleteMissing for every id in the keyset range (after,
	// upto]: full sync then reads each chunk as index range scans instead of
	// sending id lists, and finds orphans in the same pass.
	//
	// In every keyset statement (the ranges, IDsAfter, ViewIDsAfter and
	// Verify) the cursor after is exclusive except for uuid.Nil, where a
	// walk starts: from uuid.Nil, the range or listing starts at the very
	// first id, the all-zero id included, so that a walk covers every key.
	RefreshRange       func(p *Pipeline, after, upto uuid.UUID) func() (RefreshResult, error)
	DeleteMissingRange func(p *Pipeline, after, upto uuid.UUID) func() (DeleteResult, error)
	// DeleteMissing queues the deletion of the tv_ rows of ids whose tb_ row is gone.
	DeleteMissing func(p *Pipeline, ids []uuid.UUID) func() (DeleteResult, error)
	// IDsAfter lists command-side ids after a keyset cursor, in id order.
	IDsAfter func(ctx context.Context, conn DB, after uuid.UUID, limit int) ([]uuid.UUID, error)
	// ViewIDsAfter lists tv_ ids after a keyset cursor, in id order.
	ViewIDsAfter func(ctx context.Context, conn DB, after uuid.UUID, limit int) ([]uuid.UUID, error)
	// Verify compares the stored tv_ rows with their definition for the
	// ids in (after, upto] and returns those that differ. Optional: without
	// it, Engine.Verify reports the entity as not verifiable.
	Verify func(ctx context.Context, conn DB, after, upto uuid.UUID) ([]Drift, error)
	// Cascades lists the entities whose tv_ rows embed this one.
	Cascades []Cascade
}

// Cascade says that rows of Entity embed data of the registering entity, and
// how to find them: Lookup queues a statement that lists the dependent ids
// for a batch of the registering entity's ids.
type Cascade struct {
	Entity string
	Lookup func(p *Pipeline, ids []uuid.UUID) func() ([]uuid.UUID, error)
}

// Config tunes an Engine. The zero value is usable.
type Config struct {
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger
	// SlowThreshold is the duration above which an incremental or deferred
	// batch logs a warning (full-sync, rebuild and repair chunks never do);
	// zero means 50ms, a negative value disables the warning.
	SlowThreshold time.Duration
	// BatchSize caps how many ids of one entity go into one statement; larger
	// syncs are split into chunks, each in its own transaction. Zero means 5000.
	BatchSize int
	// WideThreshold is the batch size from which an entity's RefreshWide is
	// used instead of Refresh; zero means 500 (measured on 100k posts:
	// per-id lookups win at 10 ids, set-based aggregation from 1000 on, and
	// runs disagree in between), negative never.
	WideThreshold int
	// DisableSyncLog stops the engine from writing tvsync.sync_log rows.
	DisableSyncLog bool
	// Observer, if set, is told about every entity batch (for metrics).
	Observer Observer
}

// Observer receives the outcome of every entity batch the engine syncs. It
// is called synchronously after the batch commits (or fails) and must be fast
// and safe for concurrent use.
type Observer interface {
	ObserveSync(r EntityResult)
}

// Beginner is a DB that can also begin transactions, such as *pgxpool.Pool.
type Beginner interface {
	DB
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Engine syncs registered entities. It is safe for concurrent use.
type Engine struct {
	pool     Beginner
	cfg      Config
	log      *slog.Logger
	entities map[string]*Entity
	order    []string // entity names, sorted: the order of statements and locks
	queries  *db.Queries
	// skipLocks disables the advisory locks; only tests set it, to prove the
	// race the locks prevent.
	skipLocks bool
}

// NewEngine returns an engine over pool for the given entities. It fails when
// an entity is incomplete, registered twice, or cascades to an unknown entity.
func NewEngine(pool Beginner, cfg Config, entities ...Entity) (*Engine, error) {
	if pool == nil {
		return nil, errors.New("tvsync: NewEngine needs a pool")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SlowThreshold == 0 {
		cfg.SlowThreshold = 50 * time.Millisecond
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 5000
	}
	if cfg.WideThreshold == 0 {
		cfg.WideThreshold = 500
	}
	e := &Engine{pool: pool, cfg: cfg, log: cfg.Logger, entities: map[string]*Entity{}, queries: db.New()}
	for i := range entities {
		ent := entities[i]
		switch {
		case ent.Name == "" || strings.ContainsAny(ent.Name, ": "):
			return nil, fmt.Errorf("tvsync: entity name %q must be non-empty and contain no ':' or space", ent.Name)
		case ent.Refresh == nil || ent.DeleteMissing == nil || ent.IDsAfter == nil || ent.ViewIDsAfter == nil:
			return nil, fmt.Errorf("tvsync: entity %q needs Refresh, DeleteMissing, IDsAfter and ViewIDsAfter", ent.Name)
		case (ent.RefreshRange == nil) != (ent.DeleteMissingRange == nil):
			return nil, fmt.Errorf("tvsync: entity %q needs both RefreshRange and DeleteMissingRange, or neither", ent.Name)
		case e.entities[ent.Name] != nil:
			return nil, fmt.Errorf("tvsync: entity %q registered twice", ent.Name)
		}
		if ent.View == "" {
			ent.View = "tv_" + ent.Name
		}
		e.entities[ent.Name] = &ent
		e.order = append(e.order, ent.Name)
	}
	slices.Sort(e.order)
	for _, ent := range e.entities {
		for _, c := range ent.Cascades {
			if e.entities[c.Entity] == nil || c.Lookup == nil {
				return nil, fmt.Errorf("tvsync: entity %q cascades to %q, which is not registered or has no Lookup", ent.Name, c.Entity)
			}
		}
	}
	return e, nil
}

// refresh queues the refresh of ids with the plan that suits the batch size.
func (e *Engine) refresh(ent *Entity, p *Pipeline, ids []uuid.UUID) func() (RefreshResult, error) {
	if ent.RefreshWide != nil && e.cfg.WideThreshold > 0 && len(ids) >= e.cfg.WideThreshold {
		return ent.RefreshWide(p, ids)
	}
	return ent.Refresh(p, ids)
}

// Entities returns the names of the registered entities, sorted.
func (e *Engine) Entities() []string { return slices.Clone(e.order) }

// Entity returns the registration of the named entity.
func (e *Engine) Entity(name string) (Entity, error) {
	ent, ok := e.entities[name]
	if !ok {
		return Entity{}, fmt.Errorf("%w %q (registered: %s)", ErrUnknownEntity, name, strings.Join(e.order, ", "))
	}
	return *ent, nil
}

// Logger returns the engine's logger.
func (e *Engine) Logger() *slog.Logger { return e.log }

// Pool returns the pool the engine runs its own transactions on.
func (e *Engine) Pool() Beginner { return e.pool }
