-- +goose Up

-- The upgrade of a database migrated by the blog's migrations 00001-00003 as
-- they were before tvsync's objects moved to schema tvsync: they created
-- sync_queue, sync_log and tvsync_ts(timestamptz) in public. tvsync's own
-- migrations run first, so tvsync.sync_queue, tvsync.sync_log and tvsync.ts
-- exist. Each old object is recognized by its exact shape, so an
-- application's own table of the same name (another sync_log) is left
-- alone; its rows move to tvsync's object, then it is dropped. Views calling
-- public.tvsync_ts are redefined to call tvsync.ts (the same body, so the
-- documents stay byte-identical); any other object depending on it makes the
-- migration fail, naming it, and change nothing. On a fresh database this
-- finds nothing to do. Stop the writers and workers of the old version
-- first: rows they queue in public.sync_queue after this runs are lost.

-- +goose StatementBegin
DO $$
DECLARE
    -- The columns of the old tables, as "name type, ..." in order.
    old_queue constant text := 'entity text, entity_id uuid, cascade boolean, enqueued_at timestamp with time zone, '
        'available_at timestamp with time zone, attempts integer, last_error text, dead boolean';
    old_log constant text := 'id bigint, entity text, mode text, requested integer, upserted integer, unchanged integer, '
        'deleted integer, failed integer, duration_us bigint, error text, started_at timestamp with time zone';
    old_ts regprocedure := to_regprocedure('public.tvsync_ts(timestamptz)');
    moved bigint;
    v record;
BEGIN
    IF to_regclass('tvsync.sync_queue') IS NULL OR to_regclass('tvsync.sync_log') IS NULL
       OR to_regprocedure('tvsync.ts(timestamptz)') IS NULL THEN
        RAISE EXCEPTION 'schema tvsync is not migrated: apply tvsync''s migrations (syncmigrate.Up, or migrate up) before the blog''s';
    END IF;

    IF to_regclass('public.sync_queue') IS NOT NULL AND (
        SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
        FROM pg_attribute a
        WHERE a.attrelid = to_regclass('public.sync_queue') AND a.attnum > 0 AND NOT a.attisdropped
    ) = old_queue THEN
        INSERT INTO tvsync.sync_queue AS q (entity, entity_id, cascade, enqueued_at, available_at, attempts, last_error, dead)
        SELECT o.entity, o.entity_id, o.cascade, o.enqueued_at, o.available_at, o.attempts, o.last_error, o.dead
        FROM public.sync_queue o
        ORDER BY o.entity, o.entity_id
        -- tvsync's 00003 made the queue append-only (one row per queued
        -- change): every moved row is a change of its own. On a queue
        -- still keyed by (entity, entity_id) a pending row covers it.
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS moved = ROW_COUNT;
        DROP TABLE public.sync_queue;
        RAISE NOTICE 'moved % rows of public.sync_queue to tvsync.sync_queue', moved;
    END IF;

    IF to_regclass('public.sync_log') IS NOT NULL AND (
        SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
        FROM pg_attribute a
        WHERE a.attrelid = to_regclass('public.sync_log') AND a.attnum > 0 AND NOT a.attisdropped
    ) = old_log THEN
        INSERT INTO tvsync.sync_log (entity, mode, requested, upserted, unchanged, deleted, failed, duration_us, error, started_at)
        SELECT o.entity, o.mode, o.requested, o.upserted, o.unchanged, o.deleted, o.failed, o.duration_us, o.error, o.started_at
        FROM public.sync_log o
        ORDER BY o.id;
        GET DIAGNOSTICS moved = ROW_COUNT;
        DROP TABLE public.sync_log;
        RAISE NOTICE 'moved % rows of public.sync_log to tvsync.sync_log', moved;
    END IF;

    IF old_ts IS NOT NULL AND (SELECT p.prorettype FROM pg_proc p WHERE p.oid = old_ts) = 'text'::regtype THEN
        FOR v IN
            SELECT DISTINCT c.oid::regclass AS view, c.reloptions
            FROM pg_depend d
            JOIN pg_rewrite r ON r.oid = d.objid
            JOIN pg_class c ON c.oid = r.ev_class
            WHERE d.classid = 'pg_rewrite'::regclass
              AND d.refclassid = 'pg_proc'::regclass
              AND d.refobjid = old_ts
              AND c.relkind = 'v'
        LOOP
            EXECUTE format('CREATE OR REPLACE VIEW %s%s AS %s',
                v.view,
                CASE WHEN v.reloptions IS NULL THEN '' ELSE ' WITH (' || array_to_string(v.reloptions, ', ') || ')' END,
                regexp_replace(pg_get_viewdef(v.view), '(\mpublic\.)?\mtvsync_ts\(', 'tvsync.ts(', 'g'));
            RAISE NOTICE 'view % now calls tvsync.ts', v.view;
        END LOOP;
        DROP FUNCTION public.tvsync_ts(timestamptz);
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- Nothing to undo: the rows stay in tvsync's objects, which the blog's
-- earlier migrations no longer create in public.
