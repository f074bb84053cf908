-- +goose Up

-- tvsync.sync_queue holds the ids of entities of any key kind (uuid,
-- bigint) as their canonical text: a lowercase hyphenated uuid, or a decimal
-- integer. The engine parses them per the entity's registered key kind; the
-- rows of an entity it does not register stay readable as they are.
ALTER TABLE tvsync.sync_queue ALTER COLUMN entity_id TYPE text USING entity_id::text;
COMMENT ON COLUMN tvsync.sync_queue.entity_id IS 'The id, as canonical text: a lowercase hyphenated uuid or a decimal bigint, per the entity''s key kind.';

-- +goose Down
-- Rows whose id is not a uuid (those of bigint entities) cannot go back.
DELETE FROM tvsync.sync_queue WHERE entity_id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
COMMENT ON COLUMN tvsync.sync_queue.entity_id IS NULL;
ALTER TABLE tvsync.sync_queue ALTER COLUMN entity_id TYPE uuid USING entity_id::uuid;
