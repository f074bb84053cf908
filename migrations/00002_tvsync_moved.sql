-- +goose Up

-- Version 2 once created sync_queue here, in the blog's schema and goose
-- history. tvsync's own migrations (sync/syncmigrate, version table
-- tvsync.tvsync_migrations) now create tvsync.sync_queue, and migration 00005
-- moves the rows of a database migrated before. The version stays, empty, so
-- that such a database can still be rolled back through it.

-- +goose Down
