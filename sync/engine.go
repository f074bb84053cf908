// Package sync keeps tvsync's denormalized query tables (tv_*) in step with
// the normalized command tables (tb_*) through explicit, set-based sync.
//
// The Engine is domain-agnostic: each entity is registered with the sqlc
// statements that refresh and delete its tv_ rows for a batch of ids, the
// statements that list its ids for full sync, and the cascades that say which
// other entities embed it, and the kind of its key (uuid, bigint, integer or
// text, see ID).
// Sync expands the cascades, removes duplicate ids, takes one advisory lock
// per (entity, id) so overlapping syncs converge on the newest committed
// data, and sends every entity's batch to PostgreSQL in one round trip.
package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tvsync/tvsync/sync/internal/dbsqlc"
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

// valid reports whether m is one of the defined modes.
func (m Mode) valid() bool {
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
	// ErrKeyKind is returned when an id is not of its entity's key kind
	// (Entity.Key), or cannot be parsed as one.
	ErrKeyKind = errors.New("tvsync: id of the wrong key kind")
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
//
// Every id must be of the entity's key kind (Entity.Key): build them with
// UUIDKey / UUIDKeys, IntKey / IntKeys, Int32Key / Int32Keys or TextKey /
// TextKeys.
type Change struct {
	Entity  string
	IDs     []ID
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
	// Changed lists the documents the statement inserted or changed, with
	// the keys that changed, so that the engine follows cascades only from
	// documents that changed (see Cascade.On). Nil means the statement does
	// not say: every requested id then counts as changed in every key.
	Changed []DocChange

	// changedJSON is the changed column ReadRefresh read, parsed by the
	// engine with the entity's key kind.
	changedJSON []byte
}

// DocChange is one document a refresh wrote: its id and the top-level
// keys whose value changed. Keys is nil for a new document (every key
// counts as changed).
type DocChange struct {
	ID   ID
	Keys []string
}

// DeleteResult is what an entity's delete statement reports.
type DeleteResult struct {
	// Deleted is how many tv_ rows were removed because their tb_ row is gone.
	Deleted int
	// DeletedIDs lists them; nil means the statement does not say (every
	// requested id then counts as deleted, for cascades).
	DeletedIDs []ID
	// FinishedAt is the database clock when the statement finished.
	FinishedAt time.Time
}

// Entity registers one tv_ table with the engine. Refresh and DeleteMissing
// queue one set-based statement each on the pipeline (call the sqlc batch
// method with the pipeline as its connection) and return a function that reads
// its result after the pipeline has been sent; ReadOne and ReadMany adapt
// sqlc's batch results, UUIDs and Int64s convert the ids (see the package
// example and the blog package's Entities).
//
// Every id the engine passes is of the entity's Key kind, and every id a
// statement returns must be too (of the cascade target's kind, for a Lookup).
type Entity struct {
	// Name identifies the entity in changes, logs and metrics ("product").
	Name string
	// View is the tv_ table the entity maintains ("tv_product").
	View string
	// Source is the view (or set-returning function call) that defines the
	// entity's documents, one row (id, data) per tb_ row: "tv_product_source".
	// Optional for syncing; checkPlans and the generator use it.
	Source string
	// Key is the kind of the entity's primary key; the zero value is KeyUUID.
	Key KeyKind
	// Columns, optional, are the tv_ table's columns besides id, data and
	// updated_at that the statements fill from the Source view's columns of
	// the same names (a tenant, an owner, a status the API filters on).
	// checkPlans and Rebuild compare them with data; the generated Verify
	// does too.
	Columns []string
	// Refresh queues the upsert of the tv_ rows of ids from the tb_ tables.
	Refresh func(p *Pipeline, ids []ID) func() (RefreshResult, error)
	// RefreshWide, optional, is Refresh planned for large batches (set-based
	// aggregation instead of per-id lookups); the engine uses it from
	// Config.WideThreshold ids up. It must produce the same documents.
	RefreshWide func(p *Pipeline, ids []ID) func() (RefreshResult, error)
	// RefreshRange and DeleteMissingRange, optional (both or neither), are
	// Refresh and DeleteMissing for the ids of a full-sync chunk, planned as
	// index range scans over the keyset range (after, upto] instead of id
	// lookups, finding orphans in the same pass. They must write only the
	// ids given (those the chunk listed and locked; add `AND id IN (SELECT
	// unnest(@ids))`): a row created in the range after the chunk listed
	// its ids is left to its own sync, which could otherwise be overwritten
	// by an older snapshot's document. ids holds the chunk's command-side
	// ids and tv_-side ids, sorted.
	//
	// In every keyset statement (the ranges, IDsAfter, ViewIDsAfter and
	// Verify) the cursor after is exclusive except for the smallest key of
	// the key kind (the all-zero uuid, math.MinInt64, math.MinInt32 or ''),
	// where a walk starts: from it, the range or listing starts at the very
	// first id, that key included, so that a walk covers every key. In SQL:
	// `id >= @after AND (id > @after OR id = <min>) AND id <= @upto`. A
	// text key compares and sorts COLLATE "C" (each comparison and ORDER BY
	// of the key says so), and its last range has no upper bound (upto
	// IsMax): `AND (@upto_open OR id <= @upto COLLATE "C")`.
	RefreshRange       func(p *Pipeline, after, upto ID, ids []ID) func() (RefreshResult, error)
	DeleteMissingRange func(p *Pipeline, after, upto ID, ids []ID) func() (DeleteResult, error)
	// DeleteMissing queues the deletion of the tv_ rows of ids whose tb_ row is gone.
	DeleteMissing func(p *Pipeline, ids []ID) func() (DeleteResult, error)
	// IDsAfter lists command-side ids after a keyset cursor, in id order.
	IDsAfter func(ctx context.Context, conn DB, after ID, limit int) ([]ID, error)
	// ViewIDsAfter lists tv_ ids after a keyset cursor, in id order.
	ViewIDsAfter func(ctx context.Context, conn DB, after ID, limit int) ([]ID, error)
	// Verify compares the stored tv_ rows with their definition for the
	// ids in (after, upto] and returns those that differ. Optional: without
	// it, Engine.Verify reports the entity as not verifiable.
	Verify func(ctx context.Context, conn DB, after, upto ID) ([]Drift, error)
	// Cascades lists the entities whose tv_ rows embed this one.
	Cascades []Cascade
}

// Cascade says that rows of Entity embed data of the registering entity, and
// how to find them: Lookup queues a statement that lists the dependent ids
// (of Entity's key kind) for a batch of the registering entity's ids.
//
// A sync follows a cascade from a change recorded with Cascade set, and
// from every document it inserts, deletes or changes in one of the keys of
// On, to any depth: dependents are synced in turn and followed only if
// their own documents changed, so chains of cascades reach every document
// that shows what changed, and cycles end.
type Cascade struct {
	Entity string
	Lookup func(p *Pipeline, ids []ID) func() ([]ID, error)
	// On lists the top-level keys of the registering entity's document
	// that Entity's documents show; a changed document whose keys in On
	// are all unchanged does not cascade. Empty means any change cascades.
	On []string
	// Referencing says that Entity's rows reference the registering
	// entity's rows (a foreign key of Entity's table), so that deleting a
	// row may delete them too: Expand, which runs before a delete, follows
	// such cascades to the end, and the others one step.
	Referencing bool
	// Referenced, for a Referencing cascade, queues a statement that lists
	// the registering entity's ids that the given rows of Entity reference
	// (the foreign key's values, read in the caller's transaction). With
	// it, a sync of Entity's changed rows holds a shared lock on those
	// rows while it reads them, and a sync of a referenced row waits for
	// it: without it, a row attached by a transaction that is not
	// committed yet is invisible to a concurrent change of the row it
	// attaches to, whose sync then misses it while the attaching sync
	// reads the old data (one of the two writers must sync inside its
	// transaction for this to happen: inline mode). Optional; tvsync gen
	// writes it for every foreign-key path.
	Referenced func(p *Pipeline, ids []ID) func() ([]ID, error)
}

// Config tunes an Engine. The zero value is usable.
type Config struct {
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger
	// SlowThreshold is the duration above which an incremental or deferred
	// batch logs a warning (full-sync, rebuild and repair chunks never do);
	// zero means DefaultSlowThreshold, a negative value disables the warning.
	SlowThreshold time.Duration
	// BatchSize caps how many ids of one entity go into one statement and one
	// transaction of the engine's own; larger syncs are split into chunks,
	// each in its own transaction. Zero means DefaultBatchSize; a negative
	// value is an error of NewEngine.
	//
	// It also bounds the advisory locks a transaction holds: one per id, so
	// at most BatchSize per entity (a full-sync chunk of FullOptions.ChunkSize
	// ids holds that many), plus, for the written rows a sync starts from,
	// one shared lock per row they reference (Cascade.Referenced): at most
	// BatchSize per such cascade, usually far fewer (many rows, few parents). PostgreSQL keeps every lock of the server in one
	// shared table of max_locks_per_transaction × (max_connections +
	// max_prepared_transactions) entries (64 × 100 = 6,400 by default, with
	// some slack); a transaction that finds it full fails with "out of shared
	// memory". Keep BatchSize × entities per sync × concurrent syncs (and
	// ChunkSize × FullOptions.Workers) well below it, or raise
	// max_locks_per_transaction. An Inline unit of work and the Worker sync
	// in one transaction: all of their ids are locked at once.
	BatchSize int
	// WideThreshold is the batch size from which an entity's RefreshWide is
	// used instead of Refresh; zero means DefaultWideThreshold, negative
	// never.
	WideThreshold int
	// AdvisoryLockPrefix is the high 32 bits of every advisory lock key the
	// engine takes (the low 32 bits hash the entity and id), so that its
	// locks cannot collide with the application's own advisory locks, as
	// River's option of the same name. Every engine and worker syncing the
	// same tables must use the same prefix. Zero means
	// DefaultAdvisoryLockPrefix in the default namespace, and
	// a prefix derived from Namespace in any other, so that two
	// applications in one database never share a lock.
	AdvisoryLockPrefix int32
	// Namespace names the application's rows of tvsync.sync_queue and
	// tvsync.sync_log when several applications share one database (as
	// River's schema option): the engine and its workers only ever queue,
	// claim, acknowledge, fail, count, list, retry and log rows of their own
	// namespace, listen on a channel of their own (tvsync_sync_queue_<namespace>) and
	// take advisory locks of their own (see AdvisoryLockPrefix). Empty is
	// the default namespace, that of a single application. Otherwise it is
	// a lowercase letter then up to 31 lowercase letters, digits or
	// underscores ("billing", "tenant_42"). Every engine and worker of one
	// application must use the same namespace; syncmigrate.GrantApp lets
	// an application role touch only the rows of the namespaces granted to
	// it.
	Namespace string
	// InlineLimit caps how many ids a sync inside the caller's transaction
	// (a unit of work's Inline mode) locks and refreshes there: the
	// changes, with the rows their Cascade changes reach when all fit.
	// Whatever does not fit, and every row further along a chain of
	// cascades, is queued in tvsync.sync_queue in that transaction and
	// synced after its commit. Zero means
	// DefaultInlineLimit; a negative value is an error of NewEngine.
	InlineLimit int
	// CascadeGrace is how long the dependents a sync queues are left to
	// that sync, which goes on with them at once, before a Worker may take
	// them (it does when the syncing process dies); zero means
	// DefaultCascadeGrace; a negative value is an error of NewEngine.
	CascadeGrace time.Duration
	// DisableSyncLog stops the engine from writing tvsync.sync_log rows.
	DisableSyncLog bool
	// NotifyInterval is the least time between two wake-ups the engine
	// sends its workers after deferred commits (a unit of work's Deferred
	// mode): those commits send no NOTIFY
	// themselves, which would serialize them behind PostgreSQL's
	// database-wide notify lock; the engine sends one NOTIFY after them,
	// outside their transactions (see notifier). Zero means
	// DefaultNotifyInterval. A wake-up is only a hint: a row whose
	// wake-up is lost (the writer dies between its commit and the NOTIFY,
	// or the NOTIFY fails) committed with its write, and a running worker
	// takes it at its next poll, within WorkerConfig.PollInterval of the
	// commit plus the batch in hand: that is the bound.
	NotifyInterval time.Duration
	// NotifyInTransaction sends the NOTIFY inside every deferred write
	// transaction instead, as tvsync did before NotifyInterval: each such
	// commit then takes the database-wide notify lock. For comparisons
	// (the benchmark's "before" variant); leave it false.
	NotifyInTransaction bool
	// TokenKey signs the read-your-writes tokens the engine issues and
	// checks (see Token and WaitFor), with HMAC-SHA256: every engine of an
	// application that issues or accepts its tokens (every process behind
	// one API) needs the same key, of at least 16 bytes, kept secret. Nil
	// means a random key of the engine's own: its tokens then work within
	// the process only.
	TokenKey []byte
	// WaitInterval is how often the engine checks, in one statement for all
	// of its waiters, the rows the tokens being waited for name (see
	// WaitFor); zero means DefaultWaitInterval.
	WaitInterval time.Duration
	// StallAfter is how long WaitFor waits for progress on a token's rows
	// (a row synced, a dependent queued) before it reports them stalled;
	// zero means DefaultStallAfter. Keep it above CascadeGrace and the
	// workers' PollInterval, during which rows make no progress by design.
	StallAfter time.Duration
	// Observer, if set, is told about every entity batch (for metrics).
	Observer Observer
}

// The defaults of Config's fields, used where a field is zero.
const (
	// DefaultSlowThreshold is Config.SlowThreshold's default.
	DefaultSlowThreshold = 50 * time.Millisecond
	// DefaultBatchSize is Config.BatchSize's default.
	DefaultBatchSize = 1000
	// DefaultWideThreshold is Config.WideThreshold's default, measured on
	// 100k posts: per-id lookups win at 10 ids, set-based aggregation from
	// 1000 on, and runs disagree in between.
	DefaultWideThreshold = 500
	// DefaultInlineLimit is Config.InlineLimit's default: as many advisory
	// locks as BatchSize's default, a sixth of PostgreSQL's default lock
	// table.
	DefaultInlineLimit = 1000
	// DefaultCascadeGrace is Config.CascadeGrace's default.
	DefaultCascadeGrace = 10 * time.Second
)

// validate checks the fields of c that can be wrong: each error names the
// field, its value and what it may be.
func (c Config) validate() error {
	var errs []error
	if c.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("tvsync: Config.BatchSize: %d: want > 0 (or 0 for DefaultBatchSize, %d)", c.BatchSize, DefaultBatchSize))
	}
	if c.InlineLimit < 0 {
		errs = append(errs, fmt.Errorf("tvsync: Config.InlineLimit: %d: want > 0 (or 0 for DefaultInlineLimit, %d)", c.InlineLimit, DefaultInlineLimit))
	}
	if c.CascadeGrace < 0 {
		errs = append(errs, fmt.Errorf("tvsync: Config.CascadeGrace: %v: want > 0 (or 0 for DefaultCascadeGrace, %v)", c.CascadeGrace, DefaultCascadeGrace))
	}
	if err := checkNamespace(c.Namespace); err != nil {
		errs = append(errs, fmt.Errorf("tvsync: Config.Namespace: %w", err))
	}
	return errors.Join(errs...)
}

// Observer receives the outcome of every entity batch the engine syncs. It
// is called synchronously after the batch commits (or fails) and must be fast
// and safe for concurrent use.
type Observer interface {
	ObserveSync(r EntityResult)
}

// Beginner is a DB that can also begin transactions: a *pgxpool.Pool, a
// *pgx.Conn or a pgx.Tx. NewEngine takes one as its pool, syncuow.New as
// what its units of work begin on.
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
	queries  *dbsqlc.Queries
	// lockPrefix is Config.AdvisoryLockPrefix (or its default), the high
	// half of every lock key.
	lockPrefix int64
	// skipLocks disables the advisory locks; only tests set it, to prove the
	// race the locks prevent.
	skipLocks bool
	// sources lists, by dependent entity, the cascades whose rows its
	// documents reference (Cascade.Referenced): a sync of its changed rows
	// locks those shared.
	sources map[string][]source
	// notify coalesces the wake-ups sent after deferred commits.
	notify *notifier
	// waits checks the tokens WaitFor waits for.
	waits *waitLoop
	// tokenKey is Config.TokenKey, or a random key of the engine's own.
	tokenKey []byte
}

// NewEngine returns an engine over pool for the given entities. It fails when
// a field of cfg is invalid (the error names it), or an entity is
// incomplete, registered twice, or cascades to an unknown entity.
func NewEngine(pool Beginner, cfg Config, entities ...Entity) (*Engine, error) {
	if pool == nil {
		return nil, errors.New("tvsync: NewEngine needs a pool")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SlowThreshold == 0 {
		cfg.SlowThreshold = DefaultSlowThreshold
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.InlineLimit == 0 {
		cfg.InlineLimit = DefaultInlineLimit
	}
	if cfg.CascadeGrace == 0 {
		cfg.CascadeGrace = DefaultCascadeGrace
	}
	if cfg.WideThreshold == 0 {
		cfg.WideThreshold = DefaultWideThreshold
	}
	if cfg.AdvisoryLockPrefix == 0 {
		cfg.AdvisoryLockPrefix = namespaceLockPrefix(cfg.Namespace)
	}
	if err := setWaitDefaults(&cfg); err != nil {
		return nil, err
	}
	e := &Engine{pool: pool, cfg: cfg, log: cfg.Logger, entities: map[string]*Entity{}, queries: dbsqlc.New(), lockPrefix: int64(cfg.AdvisoryLockPrefix)}
	e.initWait()
	for i := range entities {
		ent := entities[i]
		switch {
		case ent.Name == "" || strings.ContainsAny(ent.Name, ": "):
			return nil, fmt.Errorf("tvsync: entity name %q must be non-empty and contain no ':' or space", ent.Name)
		case ent.Refresh == nil || ent.DeleteMissing == nil || ent.IDsAfter == nil || ent.ViewIDsAfter == nil:
			return nil, fmt.Errorf("tvsync: entity %q needs Refresh, DeleteMissing, IDsAfter and ViewIDsAfter", ent.Name)
		case (ent.RefreshRange == nil) != (ent.DeleteMissingRange == nil):
			return nil, fmt.Errorf("tvsync: entity %q needs both RefreshRange and DeleteMissingRange, or neither", ent.Name)
		case !ent.Key.valid():
			return nil, fmt.Errorf("tvsync: entity %q has an invalid key kind %v (want KeyUUID, KeyBigint, KeyInteger or KeyText)", ent.Name, ent.Key)
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
	e.sources = map[string][]source{}
	for _, name := range e.order {
		ent := e.entities[name]
		for _, c := range ent.Cascades {
			if e.entities[c.Entity] == nil || c.Lookup == nil {
				return nil, fmt.Errorf("tvsync: entity %q cascades to %q, which is not registered or has no Lookup", ent.Name, c.Entity)
			}
			if c.Referenced != nil {
				if !c.Referencing {
					return nil, fmt.Errorf("tvsync: entity %q's cascade to %q has Referenced but not Referencing: only rows that reference the entity's rows can list them", ent.Name, c.Entity)
				}
				e.sources[c.Entity] = append(e.sources[c.Entity], source{entity: name, read: c.Referenced})
			}
		}
	}
	return e, nil
}

// refresh queues the refresh of ids with the plan that suits the batch size.
func (e *Engine) refresh(ent *Entity, p *Pipeline, ids []ID) func() (RefreshResult, error) {
	if ent.RefreshWide != nil && e.cfg.WideThreshold > 0 && len(ids) >= e.cfg.WideThreshold {
		return ent.RefreshWide(p, ids)
	}
	return ent.Refresh(p, ids)
}

// Entities returns the names of the registered entities, sorted.
func (e *Engine) Entities() []string { return slices.Clone(e.order) }

// Entity returns the registration of the named entity.
func (e *Engine) Entity(name string) (Entity, error) {
	ent, err := e.entity(name)
	if err != nil {
		return Entity{}, err
	}
	return *ent, nil
}

// entity returns the registration of the named entity, or an error naming
// it and the registered ones.
func (e *Engine) entity(name string) (*Entity, error) {
	ent, ok := e.entities[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (registered: %s)", ErrUnknownEntity, name, strings.Join(e.order, ", "))
	}
	return ent, nil
}

// ParseID parses the text of an id of the named entity, per its key kind.
// The error names the entity and the text.
func (e *Engine) ParseID(entity, s string) (ID, error) {
	ent, err := e.entity(entity)
	if err != nil {
		return ID{}, err
	}
	id, err := ParseID(ent.Key, s)
	if err != nil {
		return ID{}, fmt.Errorf("%w: entity %q: %w", ErrKeyKind, entity, err)
	}
	return id, nil
}

// checkKinds reports the first id of ids that is not of entity's key kind.
func (e *Engine) checkKinds(ent *Entity, ids []ID) error {
	for _, id := range ids {
		if id.kind != ent.Key {
			return fmt.Errorf("%w: entity %q has %v keys, got the %v id %s", ErrKeyKind, ent.Name, ent.Key, id.kind, id)
		}
	}
	return nil
}

// logger returns the engine's logger (Config.Logger, or one that discards).
func (e *Engine) logger() *slog.Logger { return e.log }

// Namespace returns the engine's namespace (Config.Namespace): "" for the
// default one.
func (e *Engine) Namespace() string { return e.cfg.Namespace }
