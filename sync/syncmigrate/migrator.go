package syncmigrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/tvsync/tvsync/sync/internal/goosestore"
	"github.com/tvsync/tvsync/sync/internal/pgsession"
)

// Direction is the way Migrate moves a set: up (apply) or down (roll back).
type Direction string

// The directions of Migrate.
const (
	// DirectionUp applies pending migrations.
	DirectionUp Direction = "up"
	// DirectionDown rolls back applied migrations.
	DirectionDown Direction = "down"
)

// MigrateOpts tunes Migrate. A nil *MigrateOpts is the zero value: up,
// every pending migration; down, the latest applied one.
type MigrateOpts struct {
	// MaxSteps, if above zero, is how many migrations to apply or roll back
	// at most. Up stops early, without error, when none is left; down
	// fails with ErrNoMigration only when it cannot roll back even one.
	MaxSteps int
	// TargetVersion, if set, is the version to migrate to: up applies
	// every pending migration up to it, included; down rolls back every
	// migration above it, and -1 rolls back every one. It cannot be
	// combined with MaxSteps.
	TargetVersion int64
	// Force rolls back even when the set's CheckDown refuses (for tvsync's
	// own set: while tvsync.sync_queue holds rows, whose rows are then
	// lost). Up ignores it.
	Force bool
}

// MigrateResult is what Migrate did.
type MigrateResult struct {
	// Direction is the direction Migrate was called with.
	Direction Direction
	// Versions are the migrations applied or rolled back, in order; empty
	// when there was nothing to do.
	Versions []MigrateVersion
}

// MigrateVersion is one migration Migrate applied or rolled back.
type MigrateVersion struct {
	// Version is the migration's number (1 for 00001_tvsync.sql).
	Version int64
	// Name is the migration's file name in the set's FS ("00001_tvsync.sql").
	Name string
	// Duration is how long the migration took.
	Duration time.Duration
}

// MigrationStatus is one migration of a set as Status reports it.
type MigrationStatus struct {
	// Version is the migration's number.
	Version int64
	// Name is the migration's file name in the set's FS.
	Name string
	// Applied reports whether the migration is applied; AppliedAt says
	// when (zero when pending).
	Applied   bool
	AppliedAt time.Time
}

// Config configures New. A nil *Config is the zero value.
type Config struct {
	// Set is the migration set to run; the zero value (no Name) means
	// tvsync's own, Own().
	Set Set
	// Logger receives goose's messages; nil discards them.
	Logger *slog.Logger
}

// Migrator runs one migration set against one database, through goose's
// Provider with the set's version table (its schema created with it when
// missing). A session-level advisory lock (goose's) keeps two processes
// from migrating the same database at once; a process waits for it up to
// five minutes. Close it when done. A Migrator is not safe for concurrent
// use; two Migrators, in one process or several, serialize on the lock.
type Migrator struct {
	set      Set
	pool     *pgxpool.Pool
	db       *sql.DB
	provider *goose.Provider
}

// New returns a migrator of config.Set (tvsync's own set when config is
// nil or names no set) on pool. It checks the set's files and version table
// but does not connect.
func New(pool *pgxpool.Pool, config *Config) (*Migrator, error) {
	var cfg Config
	if config != nil {
		cfg = *config
	}
	if cfg.Set.Name == "" {
		cfg.Set = Own()
	}
	if cfg.Set.FS == nil {
		return nil, fmt.Errorf("syncmigrate: migration set %q has no FS", cfg.Set.Name)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	store, err := goosestore.New(cfg.Set.Table())
	if err != nil {
		return nil, fmt.Errorf("syncmigrate: migration set %q: %w", cfg.Set.Name, err)
	}
	// goose's default polls for the lock every 5s; every second, for the same
	// five minutes, lets replicas starting together finish sooner.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("syncmigrate: session locker: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	p, err := goose.NewProvider(goose.DialectCustom, db, cfg.Set.FS, goose.WithStore(store), goose.WithSessionLocker(locker), goose.WithSlog(cfg.Logger))
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("syncmigrate: load the migrations of set %q: %w", cfg.Set.Name, err)
	}
	return &Migrator{set: cfg.Set, pool: pool, db: db, provider: p}, nil
}

// Close releases the migrator's database handle (not the pool).
func (m *Migrator) Close() error { return m.db.Close() }

// Set returns the migration set the migrator runs.
func (m *Migrator) Set() Set { return m.set }

// Migrate moves the set in direction as opts say (nil: up, every pending
// migration; down, the latest applied one), each migration in its own
// transaction (or none, for a "NO TRANSACTION" file), and returns what it
// did. A migration that fails stops the run with an error; the migrations
// before it stay done. Before rolling anything back, unless opts.Force is
// set, it runs the set's CheckDown and returns its error (for tvsync's own
// set, one wrapping ErrQueueNotEmpty while tvsync.sync_queue holds rows),
// rolling nothing back; a row queued between that check and the roll-back
// is not caught, so stop the writers and the workers first. Rolling back
// with nothing applied returns an error wrapping ErrNoMigration. The result
// is never nil: with an error it holds what was done before it.
func (m *Migrator) Migrate(ctx context.Context, direction Direction, opts *MigrateOpts) (*MigrateResult, error) {
	var o MigrateOpts
	if opts != nil {
		o = *opts
	}
	if err := o.check(direction); err != nil {
		return &MigrateResult{Direction: direction}, err
	}
	if err := pgsession.CheckPool(ctx, m.pool); errors.Is(err, pgsession.ErrPooled) {
		return &MigrateResult{Direction: direction}, fmt.Errorf("syncmigrate: migrations take a session lock (goose's), "+
			"which needs a direct URL of the primary, not one through a transaction pooler (tvsync migrate --direct-url): %w", err)
	} else if err != nil {
		return &MigrateResult{Direction: direction}, fmt.Errorf("syncmigrate: check the session: %w", err)
	}
	if direction == DirectionUp {
		return m.up(ctx, o)
	}
	if !o.Force && m.set.CheckDown != nil {
		if err := m.set.CheckDown(ctx, m.pool); err != nil {
			return &MigrateResult{Direction: direction}, err
		}
	}
	return m.down(ctx, o)
}

// check returns an error naming the first field of o that direction
// cannot take, or the direction itself when it is neither up nor down.
func (o MigrateOpts) check(direction Direction) error {
	switch {
	case direction != DirectionUp && direction != DirectionDown:
		return fmt.Errorf("syncmigrate: direction %q: want %q or %q", direction, DirectionUp, DirectionDown)
	case o.MaxSteps < 0:
		return fmt.Errorf("syncmigrate: MigrateOpts.MaxSteps %d: want 0 (no limit) or more", o.MaxSteps)
	case o.MaxSteps > 0 && o.TargetVersion != 0:
		return errors.New("syncmigrate: MigrateOpts: give at most one of MaxSteps and TargetVersion")
	case direction == DirectionUp && o.TargetVersion < 0:
		return fmt.Errorf("syncmigrate: MigrateOpts.TargetVersion %d: up needs a version above 0", o.TargetVersion)
	case direction == DirectionDown && o.TargetVersion < -1:
		return fmt.Errorf("syncmigrate: MigrateOpts.TargetVersion %d: down needs a version, or -1 for all", o.TargetVersion)
	}
	return nil
}

// up applies the pending migrations o asks for.
func (m *Migrator) up(ctx context.Context, o MigrateOpts) (*MigrateResult, error) {
	res := &MigrateResult{Direction: DirectionUp}
	var err error
	switch {
	case o.TargetVersion > 0:
		var rs []*goose.MigrationResult
		rs, err = m.provider.UpTo(ctx, o.TargetVersion)
		res.add(rs...)
	case o.MaxSteps > 0:
		for range o.MaxSteps {
			var r *goose.MigrationResult
			if r, err = m.provider.UpByOne(ctx); errors.Is(err, goose.ErrNoNextVersion) {
				err = nil
				break
			}
			res.add(r)
			if err != nil {
				break
			}
		}
	default:
		var rs []*goose.MigrationResult
		rs, err = m.provider.Up(ctx)
		res.add(rs...)
	}
	if err != nil {
		return res, fmt.Errorf("syncmigrate: up %s: %w", m.set.Name, err)
	}
	return res, nil
}

// down rolls back the applied migrations o asks for.
func (m *Migrator) down(ctx context.Context, o MigrateOpts) (*MigrateResult, error) {
	res := &MigrateResult{Direction: DirectionDown}
	if o.TargetVersion != 0 {
		rs, err := m.provider.DownTo(ctx, max(o.TargetVersion, 0))
		res.add(rs...)
		if err != nil {
			return res, fmt.Errorf("syncmigrate: down %s to %d: %w", m.set.Name, max(o.TargetVersion, 0), err)
		}
		return res, nil
	}
	for i := range max(o.MaxSteps, 1) {
		r, err := m.provider.Down(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			if i == 0 {
				return res, fmt.Errorf("%w (set %s)", ErrNoMigration, m.set.Name)
			}
			break
		}
		res.add(r)
		if err != nil {
			return res, fmt.Errorf("syncmigrate: down %s: %w", m.set.Name, err)
		}
	}
	return res, nil
}

// add appends goose's results (nil ones skipped) to the result.
func (r *MigrateResult) add(rs ...*goose.MigrationResult) {
	for _, g := range rs {
		if g == nil || g.Source == nil {
			continue
		}
		r.Versions = append(r.Versions, MigrateVersion{Version: g.Source.Version, Name: g.Source.Path, Duration: g.Duration})
	}
}

// Status lists every migration of the set in version order, applied or
// pending.
func (m *Migrator) Status(ctx context.Context) ([]MigrationStatus, error) {
	st, err := m.provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("syncmigrate: status %s: %w", m.set.Name, err)
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, s := range st {
		out = append(out, MigrationStatus{Version: s.Source.Version, Name: s.Source.Path, Applied: s.State == goose.StateApplied, AppliedAt: s.AppliedAt})
	}
	return out, nil
}
