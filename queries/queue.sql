-- name: QueueEnqueue :batchexec
-- QueueEnqueue records, in the write transaction, that ids of one entity (in their canonical text) need a sync; a pending row is coalesced (keeping the backoff of one that failed), a parked one revived.
INSERT INTO tvsync.sync_queue AS q (entity, entity_id, cascade, available_at)
SELECT @entity::text, ids.id, @cascade::boolean, now() + make_interval(secs => @delay_seconds::float8)
FROM unnest(@ids::text[]) AS ids(id)
ORDER BY ids.id
ON CONFLICT (entity, entity_id) DO UPDATE
    SET cascade      = q.cascade OR EXCLUDED.cascade,
        -- A row waiting out the backoff of a failed attempt keeps it: a
        -- write does not buy a failing row an early retry (the retry reads
        -- the newest data anyway), so it is parked only after max_attempts
        -- over the intended backoff.
        available_at = CASE WHEN q.attempts > 0 AND NOT q.dead
                            THEN greatest(q.available_at, EXCLUDED.available_at)
                            ELSE least(q.available_at, EXCLUDED.available_at) END,
        attempts     = CASE WHEN q.dead THEN 0 ELSE q.attempts END,
        dead         = false;

-- name: QueueNotify :batchexec
-- QueueNotify wakes the workers listening on the given channel when the transaction commits.
SELECT pg_notify(@channel::text, '');

-- name: QueueAck :batchone
-- QueueAck removes, inside the sync that covers them, the queued rows of ids that no worker holds; a row asking for cascades only goes if this sync cascaded it.
WITH acked AS (
    DELETE FROM tvsync.sync_queue q
    WHERE q.entity = @entity::text
      AND q.entity_id IN (
          SELECT s.entity_id FROM tvsync.sync_queue s
          WHERE s.entity = @entity::text AND s.entity_id = ANY(@ids::text[])
            AND (NOT s.cascade OR s.entity_id = ANY(@cascaded_ids::text[]))
          ORDER BY s.entity_id
          FOR UPDATE SKIP LOCKED)
    RETURNING q.entity_id
)
SELECT count(*)::int AS acked FROM acked;

-- name: QueueBatchTimeouts :batchexec
-- QueueBatchTimeouts bounds, for the worker's batch transaction only, each lock wait and each statement (in milliseconds, 0 for no limit).
SELECT set_config('lock_timeout', @lock_timeout_ms::bigint || 'ms', true),
       set_config('statement_timeout', @statement_timeout_ms::bigint || 'ms', true);

-- name: QueueClaim :batchmany
-- QueueClaim locks a batch of ready rows that no other worker holds, oldest first.
SELECT entity, entity_id, cascade, attempts
FROM tvsync.sync_queue
WHERE NOT dead AND available_at <= now()
ORDER BY available_at
LIMIT @batch_size::int
FOR UPDATE SKIP LOCKED;

-- name: QueueDelete :batchexec
-- QueueDelete removes claimed rows of one entity once their sync has succeeded.
DELETE FROM tvsync.sync_queue WHERE entity = @entity::text AND entity_id = ANY(@ids::text[]);

-- name: QueueFail :batchexec
-- QueueFail records a failed attempt on claimed rows: retry after a backoff (1s doubling per attempt, capped), or park them as dead after max_attempts.
UPDATE tvsync.sync_queue
SET attempts     = attempts + 1,
    last_error   = @last_error::text,
    available_at = now() + least(interval '1 second' * power(2, least(attempts, 30)), make_interval(secs => @max_backoff_seconds::float8)),
    dead         = attempts + 1 >= @max_attempts::int
WHERE entity = @entity::text AND entity_id = ANY(@ids::text[]);

-- name: QueueStats :one
-- QueueStats summarizes the queue for tvsync status and metrics: rows pending, the oldest pending row's age, rows parked as dead, rows naming none of the registered entities.
SELECT count(*) FILTER (WHERE NOT dead)::bigint AS pending,
       coalesce(extract(epoch FROM now() - min(enqueued_at) FILTER (WHERE NOT dead)), 0)::float8 AS oldest_age_seconds,
       count(*) FILTER (WHERE dead)::bigint AS dead,
       count(*) FILTER (WHERE entity <> ALL(@registered::text[]))::bigint AS unregistered
FROM tvsync.sync_queue;

-- name: QueueDeadList :many
-- QueueDeadList shows parked rows with their last error, oldest first.
SELECT entity, entity_id, attempts, last_error, enqueued_at
FROM tvsync.sync_queue WHERE dead ORDER BY enqueued_at LIMIT @max_rows::int;

-- name: QueueRetryDead :execrows
-- QueueRetryDead revives every parked row for an immediate retry.
UPDATE tvsync.sync_queue SET dead = false, attempts = 0, available_at = now(), last_error = '' WHERE dead;
