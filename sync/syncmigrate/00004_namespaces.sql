-- +goose Up

-- Several applications may share one database (tenants in schemas of their
-- own, with the same entity names): each names its rows of tvsync.sync_queue
-- and tvsync.sync_log with a namespace (sync.Config.Namespace), and every
-- statement tvsync runs reads, claims, acknowledges, fails, counts and
-- deletes only the rows of its engine's namespace. '' is the namespace of a
-- single application, and of every row written before this migration.
ALTER TABLE tvsync.sync_queue ADD COLUMN namespace text NOT NULL DEFAULT '';
ALTER TABLE tvsync.sync_log ADD COLUMN namespace text NOT NULL DEFAULT '';
COMMENT ON COLUMN tvsync.sync_queue.namespace IS 'The application that queued the row (sync.Config.Namespace): only its workers take it.';
COMMENT ON COLUMN tvsync.sync_log.namespace IS 'The application whose engine synced the batch (sync.Config.Namespace).';

DROP INDEX tvsync.sync_queue_ready_idx;
CREATE INDEX sync_queue_ready_idx ON tvsync.sync_queue (namespace, available_at) WHERE NOT dead;
DROP INDEX tvsync.sync_queue_entity_id_idx;
CREATE INDEX sync_queue_entity_id_idx ON tvsync.sync_queue (namespace, entity, entity_id);
DROP INDEX tvsync.sync_log_started_at_idx;
CREATE INDEX sync_log_started_at_idx ON tvsync.sync_log (namespace, started_at);

-- Which roles may touch the rows of which namespace, beyond the tables'
-- owner: row-level security on sync_queue and sync_log lets a role see,
-- change, delete and insert only rows of the namespaces granted to it or to
-- a role it is a member of (a row naming a role since dropped grants
-- nothing). syncmigrate.GrantApp fills it; only the owner
-- writes it, and the application roles read it (the policies run as them).
CREATE TABLE tvsync.namespace_role (
    namespace text NOT NULL CHECK (namespace ~ '^([a-z][a-z0-9_]{0,31})?$'),
    role      name NOT NULL,
    PRIMARY KEY (namespace, role)
);
COMMENT ON TABLE tvsync.namespace_role IS 'The namespaces of tvsync.sync_queue and tvsync.sync_log rows each role may touch (row-level security; the owner is exempt).';

-- A database migrated before namespaces: the roles that hold privileges on
-- the queue already keep the default namespace, so that an application
-- role granted by an older GrantApp goes on working.
INSERT INTO tvsync.namespace_role (namespace, role)
SELECT DISTINCT '', g.grantee::name
FROM information_schema.role_table_grants g
WHERE g.table_schema = 'tvsync' AND g.table_name = 'sync_queue'
  AND g.grantee NOT IN ('PUBLIC', (SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c
                                   WHERE c.oid = 'tvsync.sync_queue'::regclass))
ON CONFLICT DO NOTHING;

ALTER TABLE tvsync.sync_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE tvsync.sync_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY sync_queue_namespace ON tvsync.sync_queue
    USING (namespace IN (SELECT n.namespace FROM tvsync.namespace_role n JOIN pg_catalog.pg_roles r ON r.rolname = n.role
                       WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')))
    WITH CHECK (namespace IN (SELECT n.namespace FROM tvsync.namespace_role n JOIN pg_catalog.pg_roles r ON r.rolname = n.role
                       WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')));
CREATE POLICY sync_log_namespace ON tvsync.sync_log
    USING (namespace IN (SELECT n.namespace FROM tvsync.namespace_role n JOIN pg_catalog.pg_roles r ON r.rolname = n.role
                       WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')))
    WITH CHECK (namespace IN (SELECT n.namespace FROM tvsync.namespace_role n JOIN pg_catalog.pg_roles r ON r.rolname = n.role
                       WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')));

-- +goose Down
DROP POLICY sync_log_namespace ON tvsync.sync_log;
DROP POLICY sync_queue_namespace ON tvsync.sync_queue;
ALTER TABLE tvsync.sync_log DISABLE ROW LEVEL SECURITY;
ALTER TABLE tvsync.sync_queue DISABLE ROW LEVEL SECURITY;
DROP TABLE tvsync.namespace_role;
DROP INDEX tvsync.sync_log_started_at_idx;
CREATE INDEX sync_log_started_at_idx ON tvsync.sync_log (started_at);
DROP INDEX tvsync.sync_queue_entity_id_idx;
CREATE INDEX sync_queue_entity_id_idx ON tvsync.sync_queue (entity, entity_id);
DROP INDEX tvsync.sync_queue_ready_idx;
CREATE INDEX sync_queue_ready_idx ON tvsync.sync_queue (available_at) WHERE NOT dead;
-- The rows of every namespace stay, now all one application's.
ALTER TABLE tvsync.sync_log DROP COLUMN namespace;
ALTER TABLE tvsync.sync_queue DROP COLUMN namespace;
