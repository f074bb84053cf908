-- +goose Up

-- Lineage of queued rows, for read-your-writes (sync.Engine.WaitFor): a row
-- a sync queues for a dependent it found carries, in [origin_lo, origin_hi],
-- the hull of the seqs and origins of every row of the level that sync
-- covered, so that each row queued, directly or down a chain of cascades,
-- because of a row of seq s has s in its origin (or is s). A waiter on the
-- seqs a unit of work queued is done when no row of its namespace has one of
-- those seqs or an origin that contains one. The hull may cover unrelated
-- rows: a waiter then waits a little longer, never less. Rows a write
-- queues have none (NULL): they are origins themselves.
ALTER TABLE tvsync.sync_queue ADD COLUMN origin_lo bigint;
ALTER TABLE tvsync.sync_queue ADD COLUMN origin_hi bigint;
ALTER TABLE tvsync.sync_queue ADD CONSTRAINT sync_queue_origin_check
    CHECK ((origin_lo IS NULL) = (origin_hi IS NULL) AND origin_lo <= origin_hi);
CREATE INDEX sync_queue_origin_idx ON tvsync.sync_queue (namespace, origin_hi) WHERE origin_hi IS NOT NULL;
COMMENT ON COLUMN tvsync.sync_queue.origin_lo IS 'Lowest seq this dependent row may descend from (NULL: queued by a write, its own origin).';
COMMENT ON COLUMN tvsync.sync_queue.origin_hi IS 'Highest seq this dependent row may descend from (NULL: queued by a write, its own origin).';

-- +goose Down
DROP INDEX tvsync.sync_queue_origin_idx;
ALTER TABLE tvsync.sync_queue DROP CONSTRAINT sync_queue_origin_check;
ALTER TABLE tvsync.sync_queue DROP COLUMN origin_hi;
ALTER TABLE tvsync.sync_queue DROP COLUMN origin_lo;
