-- +goose Up

-- tvsync.sync_queue becomes append-only: every queued change is a row of its
-- own, named by seq, instead of being merged into one row per (entity, id).
-- Queueing is then a plain INSERT that never waits for another transaction's
-- lock on a row of the same id, so two units of work, or a unit of work and
-- a worker, can no longer deadlock inside tvsync's enqueue; and whoever
-- syncs a change removes exactly the rows it saw (by seq), so a change
-- queued while a sync runs is never removed by a sync that could not see it.
-- Rows of one id are de-duplicated when they are synced, not when queued.
ALTER TABLE tvsync.sync_queue DROP CONSTRAINT sync_queue_pkey;
ALTER TABLE tvsync.sync_queue ADD COLUMN seq bigint NOT NULL GENERATED ALWAYS AS IDENTITY;
ALTER TABLE tvsync.sync_queue ADD PRIMARY KEY (seq);
CREATE INDEX sync_queue_entity_id_idx ON tvsync.sync_queue (entity, entity_id);
ALTER TABLE tvsync.sync_queue ADD COLUMN scheduled boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN tvsync.sync_queue.seq IS 'Names one queued change: a sync removes the rows it covered by seq.';
COMMENT ON COLUMN tvsync.sync_queue.scheduled IS 'A re-sync asked for at a time (a document that ages): only that time makes it ready; no earlier sync of the id removes it.';
COMMENT ON TABLE tvsync.sync_queue IS 'Durable outbox: one row per queued change of an (entity, id) whose tv_ row may be stale.';

-- +goose Down
-- Merge the rows of each (entity, id) into its oldest one before the
-- primary key on (entity, entity_id) comes back.
UPDATE tvsync.sync_queue q
SET cascade = m.cascade, available_at = m.available_at, dead = m.dead
FROM (SELECT entity, entity_id, min(seq) AS seq, bool_or(cascade) AS cascade,
             min(available_at) AS available_at, bool_and(dead) AS dead
      FROM tvsync.sync_queue GROUP BY entity, entity_id) m
WHERE q.seq = m.seq;
DELETE FROM tvsync.sync_queue q
WHERE EXISTS (SELECT 1 FROM tvsync.sync_queue o
              WHERE o.entity = q.entity AND o.entity_id = q.entity_id AND o.seq < q.seq);
DROP INDEX tvsync.sync_queue_entity_id_idx;
ALTER TABLE tvsync.sync_queue DROP COLUMN scheduled;
ALTER TABLE tvsync.sync_queue DROP CONSTRAINT sync_queue_pkey;
ALTER TABLE tvsync.sync_queue DROP COLUMN seq;
ALTER TABLE tvsync.sync_queue ADD PRIMARY KEY (entity, entity_id);
COMMENT ON TABLE tvsync.sync_queue IS 'Durable outbox: one row per (entity, id) whose tv_ row may be stale.';
