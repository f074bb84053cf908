-- +goose Up

-- tvsync_ts renders a timestamp as the fixed-format UTC string used in every
-- tv_ document, so documents never depend on the session's TimeZone setting.
-- +goose StatementBegin
CREATE FUNCTION tvsync_ts(ts timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
-- +goose StatementEnd

-- Command side: normalized, write-optimized tables.

CREATE TABLE tb_user (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    username   text        NOT NULL UNIQUE CHECK (username <> ''),
    full_name  text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE tb_user IS 'Command side: one row per user. Synced to tv_user.';

CREATE TABLE tb_post (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    author_id  uuid        NOT NULL REFERENCES tb_user (id) ON DELETE CASCADE,
    title      text        NOT NULL CHECK (title <> ''),
    content    text        NOT NULL DEFAULT '',
    published  boolean     NOT NULL DEFAULT false,
    view_count bigint      NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tb_post_author_id_idx ON tb_post (author_id);
COMMENT ON TABLE tb_post IS 'Command side: one row per post. Synced to tv_post.';
COMMENT ON COLUMN tb_post.view_count IS 'Deliberately absent from every tv_ table: changing it needs no sync.';

CREATE TABLE tb_comment (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    post_id    uuid        NOT NULL REFERENCES tb_post (id) ON DELETE CASCADE,
    author_id  uuid        NOT NULL REFERENCES tb_user (id) ON DELETE CASCADE,
    content    text        NOT NULL CHECK (content <> ''),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tb_comment_post_id_idx ON tb_comment (post_id);
CREATE INDEX tb_comment_author_id_idx ON tb_comment (author_id);
COMMENT ON TABLE tb_comment IS 'Command side: one row per comment. Synced to tv_comment and embedded in tv_post.';

CREATE TABLE tb_post_like (
    post_id    uuid        NOT NULL REFERENCES tb_post (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL REFERENCES tb_user (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, user_id)
);
CREATE INDEX tb_post_like_user_id_idx ON tb_post_like (user_id);
COMMENT ON TABLE tb_post_like IS 'Command side: who liked which post. Counted in tv_post.likeCount.';

-- Query side: denormalized, read-optimized JSONB documents.

CREATE TABLE tv_user (
    id         uuid        PRIMARY KEY,
    data       jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE tv_user IS 'Query side: {id, username, fullName, createdAt, postCount, commentCount}.';

CREATE TABLE tv_post (
    id         uuid        PRIMARY KEY,
    data       jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE tv_post IS 'Query side: {id, title, content, published, createdAt, author, commentCount, likeCount, comments[]}.';

CREATE TABLE tv_comment (
    id         uuid        PRIMARY KEY,
    data       jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE tv_comment IS 'Query side: {id, content, createdAt, post {id, title}, author {id, username}}.';

-- Sync metrics: one row per entity batch, never one per id.

CREATE TABLE sync_log (
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
CREATE INDEX sync_log_started_at_idx ON sync_log (started_at);
COMMENT ON TABLE sync_log IS 'One row per synced entity batch: what was asked, what changed, how long it took.';

-- +goose Down
DROP TABLE sync_log;
DROP TABLE tv_comment;
DROP TABLE tv_post;
DROP TABLE tv_user;
DROP TABLE tb_post_like;
DROP TABLE tb_comment;
DROP TABLE tb_post;
DROP TABLE tb_user;
DROP FUNCTION tvsync_ts(timestamptz);
