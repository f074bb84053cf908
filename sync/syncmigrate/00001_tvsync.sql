-- +goose Up

-- Everything tvsync owns lives in schema tvsync, never in the application's:
-- the outbox, the sync log, the timestamp helper and goose's version table of
-- this set (tvsync.tvsync_migrations). syncmigrate creates the schema before
-- goose creates its version table in it; this statement declares it for sqlc.
-- Down leaves the schema, which still holds the version table.
CREATE SCHEMA IF NOT EXISTS tvsync;
COMMENT ON SCHEMA tvsync IS 'tvsync''s own objects: sync_queue (outbox), sync_log (metrics), ts() (document timestamps), tvsync_migrations (goose).';

-- ts renders a timestamp as the fixed-format UTC string of every tv_
-- document, so that documents never depend on the session's TimeZone, and
-- a document recomputed by verify in any session equals the stored one. The
-- SQL-standard body is bound when the function is created, so no
-- search_path of the caller can redirect what it calls.
-- +goose StatementBegin
CREATE FUNCTION tvsync.ts(ts timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN pg_catalog.to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
-- +goose StatementEnd

-- Sync metrics: one row per entity batch, never one per id.
CREATE TABLE tvsync.sync_log (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity      text        NOT NULL,
    mode        text        NOT NULL,
    requested   integer     NOT NULL,
    upserted    integer     NOT NULL,
    unchanged   integer     NOT NULL,
    deleted     integer     NOT NULL,
    failed      integer     NOT NULL,
    duration_us bigint      NOT NULL,
    error       text        NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL
);
CREATE INDEX sync_log_started_at_idx ON tvsync.sync_log (started_at);
COMMENT ON TABLE tvsync.sync_log IS 'One row per synced entity batch: what was asked, what changed, how long it took.';

-- The durable outbox of changes still to sync. A unit of work inserts its
-- affected (entity, id) pairs in its own write transaction, coalesced to one
-- row per pair; the after-commit sync removes them when it succeeds and a
-- Worker drains whatever is left (deferred mode, crashes, failures).
CREATE TABLE tvsync.sync_queue (
    entity       text        NOT NULL,
    entity_id    uuid        NOT NULL,
    cascade      boolean     NOT NULL DEFAULT false,
    enqueued_at  timestamptz NOT NULL DEFAULT now(),
    available_at timestamptz NOT NULL DEFAULT now(),
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text        NOT NULL DEFAULT '',
    dead         boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (entity, entity_id)
);
CREATE INDEX sync_queue_ready_idx ON tvsync.sync_queue (available_at) WHERE NOT dead;
COMMENT ON TABLE tvsync.sync_queue IS 'Durable outbox: one row per (entity, id) whose tv_ row may be stale.';
COMMENT ON COLUMN tvsync.sync_queue.cascade IS 'Sync the rows embedding this one too (a rename, a title change).';
COMMENT ON COLUMN tvsync.sync_queue.enqueued_at IS 'When the oldest pending change of this row was queued.';
COMMENT ON COLUMN tvsync.sync_queue.available_at IS 'When a worker may take the row: later for after-commit rows and for retries.';
COMMENT ON COLUMN tvsync.sync_queue.dead IS 'Parked after too many failed attempts; shown by tvsync status, retried by tvsync queue retry.';

-- +goose Down
DROP TABLE tvsync.sync_queue;
DROP TABLE tvsync.sync_log;
DROP FUNCTION tvsync.ts(timestamptz);
