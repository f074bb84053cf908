-- +goose Up

-- The durable outbox of changes still to sync. A unit of work inserts its
-- affected (entity, id) pairs in its own write transaction, coalesced to one
-- row per pair; the after-commit sync removes them when it succeeds and a
-- Worker drains whatever is left (deferred mode, crashes, failures).
CREATE TABLE sync_queue (
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
CREATE INDEX sync_queue_ready_idx ON sync_queue (available_at) WHERE NOT dead;
COMMENT ON TABLE sync_queue IS 'Durable outbox: one row per (entity, id) whose tv_ row may be stale.';
COMMENT ON COLUMN sync_queue.cascade IS 'Sync the rows embedding this one too (a rename, a title change).';
COMMENT ON COLUMN sync_queue.enqueued_at IS 'When the oldest pending change of this row was queued.';
COMMENT ON COLUMN sync_queue.available_at IS 'When a worker may take the row: later for after-commit rows and for retries.';
COMMENT ON COLUMN sync_queue.dead IS 'Parked after too many failed attempts; shown by tvsync status, retried by tvsync queue retry.';

-- +goose Down
DROP TABLE sync_queue;
