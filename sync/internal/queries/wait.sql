-- name: WaitPending :batchmany
-- WaitPending checks, in one statement for every waiter of an engine, which of the namespace's queued rows a waiter still waits for: those whose seq is in one of its ranges (waiter, lo, hi), and those whose lineage (origin_lo..origin_hi) meets one; per waiter with any, how many, how many are parked dead, the highest seq (a new one means progress), and up to max_named of them, dead first.
WITH t AS (
    SELECT (@waiters::int[])[g.i] AS waiter, (@los::bigint[])[g.i] AS lo, (@his::bigint[])[g.i] AS hi
    FROM generate_subscripts(@waiters::int[], 1) AS g(i)
), hit AS (
    SELECT t.waiter, q.seq, q.entity, q.entity_id, q.dead, q.last_error
    FROM t JOIN tvsync.sync_queue q ON q.namespace = @namespace::text AND q.seq BETWEEN t.lo AND t.hi
    UNION
    SELECT t.waiter, q.seq, q.entity, q.entity_id, q.dead, q.last_error
    FROM t JOIN tvsync.sync_queue q ON q.namespace = @namespace::text AND q.origin_hi >= t.lo AND q.origin_lo <= t.hi
)
SELECT hit.waiter::int AS waiter, count(*)::bigint AS pending, count(*) FILTER (WHERE hit.dead)::bigint AS dead,
       max(hit.seq)::bigint AS max_seq,
       (array_agg(hit.seq ORDER BY hit.dead DESC, hit.seq))[1:@max_named::int]::bigint[] AS seqs,
       (array_agg(hit.entity ORDER BY hit.dead DESC, hit.seq))[1:@max_named::int]::text[] AS entities,
       (array_agg(hit.entity_id ORDER BY hit.dead DESC, hit.seq))[1:@max_named::int]::text[] AS entity_ids,
       (array_agg(hit.dead ORDER BY hit.dead DESC, hit.seq))[1:@max_named::int]::boolean[] AS deads,
       (array_agg(hit.last_error ORDER BY hit.dead DESC, hit.seq))[1:@max_named::int]::text[] AS last_errors
FROM hit
GROUP BY hit.waiter;

-- name: WaitNotify :exec
-- WaitNotify wakes the workers listening on the given channel, on its own, outside any write transaction (a coalesced wake-up after deferred commits).
SELECT pg_notify(@channel::text, '');
