// Package repository is tvsync's write and read API for applications: a
// Repository runs units of work whose typed writes to the command tables
// (tb_*) record every entity they affect, cascades included, and sync them
// explicitly when the unit of work commits. Reads come from the query tables
// (tv_*) only.
package repository

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/db"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncread"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// Errors returned by the repository. Test for them with errors.Is.
var (
	// ErrNotFound is returned when a write or read names a row that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a write would break a uniqueness rule (a taken username).
	ErrConflict = errors.New("conflict")
	// ErrInvalid is returned for input that breaks a check (an empty title).
	ErrInvalid = errors.New("invalid input")
	// ErrCommittedNotSynced is returned by InTx in syncuow.AfterCommit mode when
	// the writes committed but the sync after the commit failed. Nothing is
	// lost: the changes stay in the durable queue and a Worker syncs them.
	// It is syncuow.ErrCommittedNotSynced.
	ErrCommittedNotSynced = syncuow.ErrCommittedNotSynced
	// ErrUnitOfWorkDone is returned by every write of a UnitOfWork, and by
	// its transaction, once the InTx call that made it has returned: its
	// transaction is over and its connection back in the pool. It is
	// syncuow.ErrDone.
	ErrUnitOfWorkDone = syncuow.ErrDone
)

// Options configures a Repository. The zero value syncs after commit.
type Options struct {
	// Sync is when units of work sync: syncuow.AfterCommit (the zero
	// value), syncuow.Inline or syncuow.Deferred.
	Sync syncuow.Timing
	// Logger receives the repository's logs; nil discards them.
	Logger *slog.Logger
	// AfterCommitGrace is how long, in syncuow.AfterCommit mode, a queued change
	// is left to the sync that follows the commit before a Worker may take
	// it; zero means 10 seconds.
	AfterCommitGrace time.Duration
	// Reads, when set, routes the tv_ reads (GetPost, GetUser, GetComment,
	// ListPosts) over the primary and its streaming replicas, with
	// read-your-writes for a context carrying a token (syncread.WithToken
	// of Position taken after a unit of work). Nil: every read on the
	// repository's pool, as before.
	Reads *syncread.Router
}

// Repository runs units of work against a pool and syncs what they change:
// it wraps a syncuow.Runner with the blog's typed writes and reads. It is
// safe for concurrent use.
type Repository struct {
	pool   *pgxpool.Pool
	engine *tvsync.Engine
	runner *syncuow.Runner
	// err is syncuow.New's error (an invalid Options.Sync): every unit of
	// work returns it.
	err     error
	opts    Options
	queries *db.Queries
}

// New returns a repository over pool that syncs with engine. An opts.Sync
// that is none of the three modes makes every unit of work (InTx) fail with
// an error naming Options.Timing, as syncuow.New reports it.
func New(pool *pgxpool.Pool, engine *tvsync.Engine, opts Options) *Repository {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.AfterCommitGrace <= 0 {
		opts.AfterCommitGrace = 10 * time.Second
	}
	runner, err := syncuow.New(pool, engine, syncuow.Options{
		Timing:           opts.Sync,
		Logger:           opts.Logger,
		AfterCommitGrace: opts.AfterCommitGrace,
	})
	return &Repository{pool: pool, engine: engine, runner: runner, err: err, opts: opts, queries: db.New()}
}

// WithTiming returns a repository sharing r's pool and engine that syncs at
// timing t.
func (r *Repository) WithTiming(t syncuow.Timing) *Repository {
	c := *r
	c.opts.Sync = t
	c.runner, c.err = syncuow.New(r.pool, r.engine, syncuow.Options{
		Timing:           t,
		Logger:           r.opts.Logger,
		AfterCommitGrace: r.opts.AfterCommitGrace,
	})
	return &c
}

// Timing returns when the repository's units of work sync (Options.Sync).
func (r *Repository) Timing() syncuow.Timing { return r.opts.Sync }

// InTx runs fn in a transaction with a fresh unit of work. If fn returns an
// error or panics, the transaction rolls back and nothing is synced or
// queued. Otherwise the entities fn's writes affected are synced as the
// repository's Timing says. The rollback runs even when ctx is cancelled.
//
// InTx holds one pooled connection while fn runs and releases it as soon as
// the transaction ends, before the sync that follows the commit in
// syncuow.AfterCommit mode takes one of its own: a unit of work never holds two
// connections, so any pool size, one included, is enough. The unit of work
// is closed when InTx returns; using it afterwards returns ErrUnitOfWorkDone.
// A nil fn returns an error wrapping ErrInvalid.
func (r *Repository) InTx(ctx context.Context, fn func(uow *UnitOfWork) error) error {
	if fn == nil {
		return fmt.Errorf("repository: InTx needs a function to run, got nil: %w", ErrInvalid)
	}
	if r.err != nil {
		return fmt.Errorf("repository: %w", r.err)
	}
	return r.runner.Run(ctx, func(w *syncuow.Work) error {
		return fn(&UnitOfWork{w: w, tx: w.Tx(), repo: r})
	})
}

// InTxToken is InTx that also returns the unit of work's read-your-writes
// token (syncuow.Runner.RunToken): reached at once in syncuow.Inline and
// syncuow.AfterCommit mode; in syncuow.Deferred mode it names the queued rows, and
// WaitFor returns once the workers have synced them and the dependents
// their syncs queued. Hand tok.String() to a client and take it back with
// ParseToken on its next request.
func (r *Repository) InTxToken(ctx context.Context, fn func(uow *UnitOfWork) error) (tvsync.Token, error) {
	if fn == nil {
		return tvsync.Token{}, fmt.Errorf("repository: InTxToken needs a function to run, got nil: %w", ErrInvalid)
	}
	if r.err != nil {
		return tvsync.Token{}, fmt.Errorf("repository: %w", r.err)
	}
	return r.runner.RunToken(ctx, func(w *syncuow.Work) error {
		return fn(&UnitOfWork{w: w, tx: w.Tx(), repo: r})
	})
}

// ParseToken reads a token a client sent back (Token.String of an
// InTxToken), refusing one forged, altered or of another namespace with an
// error wrapping tvsync.ErrInvalidToken.
func (r *Repository) ParseToken(s string) (tvsync.Token, error) { return r.engine.ParseToken(s) }

// WaitFor waits until every document the unit of work that issued tok made
// stale is current (tvsync.Engine.WaitFor: reached, timed out with ctx, or
// stalled, naming rows).
func (r *Repository) WaitFor(ctx context.Context, tok tvsync.Token) (tvsync.WaitResult, error) {
	return r.engine.WaitFor(ctx, tok)
}

// Position returns the primary's WAL position now (syncread.Position):
// taken after InTx returned nil in syncuow.Inline or syncuow.AfterCommit mode, it
// covers the unit of work's documents, and a context carrying it
// (syncread.WithToken) reads them, or newer ones, from any replica Reads
// routes to. In syncuow.Deferred mode the documents come later, from a worker:
// the position does not cover them.
func (r *Repository) Position(ctx context.Context) (syncread.LSN, error) {
	return syncread.Position(ctx, r.pool)
}

// read runs fn on the connection Options.Reads chooses for ctx, or on the
// pool when there is no router.
func (r *Repository) read(ctx context.Context, fn func(ctx context.Context, q db.DBTX) error) error {
	if r.opts.Reads == nil {
		return fn(ctx, r.pool)
	}
	return r.opts.Reads.Read(ctx, func(ctx context.Context, c syncread.Conn) error { return fn(ctx, c) })
}

// GetPost returns the stored tv_post document of id.
func (r *Repository) GetPost(ctx context.Context, id uuid.UUID) (json.RawMessage, error) {
	var data json.RawMessage
	err := r.read(ctx, func(ctx context.Context, q db.DBTX) (err error) {
		data, err = r.queries.PostGetByID(ctx, q, id)
		return err
	})
	return data, translate(err, "post", id)
}

// GetUser returns the stored tv_user document of id.
func (r *Repository) GetUser(ctx context.Context, id uuid.UUID) (json.RawMessage, error) {
	var data json.RawMessage
	err := r.read(ctx, func(ctx context.Context, q db.DBTX) (err error) {
		data, err = r.queries.UserGetByID(ctx, q, id)
		return err
	})
	return data, translate(err, "user", id)
}

// GetComment returns the stored tv_comment document of id.
func (r *Repository) GetComment(ctx context.Context, id uuid.UUID) (json.RawMessage, error) {
	var data json.RawMessage
	err := r.read(ctx, func(ctx context.Context, q db.DBTX) (err error) {
		data, err = r.queries.CommentGetByID(ctx, q, id)
		return err
	})
	return data, translate(err, "comment", id)
}

// Document is a stored tv_ row: its id and its JSON.
type Document struct {
	ID   uuid.UUID
	Data json.RawMessage
}

// ListPosts returns up to limit tv_post documents with ids after the cursor
// (uuid.Nil for the first page, which starts at the very first id, the
// all-zero id included), in id order.
func (r *Repository) ListPosts(ctx context.Context, after uuid.UUID, limit int) ([]Document, error) {
	if limit <= 0 || limit > 10000 {
		return nil, fmt.Errorf("%w: limit %d must be between 1 and 10000", ErrInvalid, limit)
	}
	var rows []db.PostListRow
	err := r.read(ctx, func(ctx context.Context, q db.DBTX) (err error) {
		rows, err = r.queries.PostList(ctx, q, db.PostListParams{After: after, PageSize: int32(limit)})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list posts after %s: %w", after, err)
	}
	docs := make([]Document, len(rows))
	for i, row := range rows {
		docs[i] = Document{ID: row.ID, Data: row.Data}
	}
	return docs, nil
}

// translate turns driver errors into the repository's documented errors,
// naming the entity and id involved.
func translate(err error, entity string, id any) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s %v: %w", entity, id, ErrNotFound)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23503":
			return fmt.Errorf("%s %v: a referenced row does not exist (%s): %w", entity, id, pgErr.ConstraintName, ErrNotFound)
		case "23505":
			return fmt.Errorf("%s %v: %s: %w", entity, id, pgErr.Detail, ErrConflict)
		case "23514", "22001", "22P02":
			return fmt.Errorf("%s %v: %s: %w", entity, id, pgErr.Message, ErrInvalid)
		case "22021", "22P05":
			// A NUL byte or invalid UTF-8 in some text (character_not_in_repertoire,
			// untranslatable_character): the text is at fault, not the row named.
			return fmt.Errorf("text that PostgreSQL cannot store: %s: %w", pgErr.Message, ErrInvalid)
		}
	}
	return fmt.Errorf("%s %v: %w", entity, id, err)
}
