-- Clips: export jobs stored so they survive a restart. Identical in ../postgres/0004_clips.sql.

CREATE TABLE clips (
    id                TEXT PRIMARY KEY,
    show_id           TEXT NOT NULL REFERENCES shows (id),
    status            TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    progress_permille BIGINT NOT NULL DEFAULT 0,
    format            TEXT NOT NULL CHECK (format IN ('original', 'vertical')),
    -- The segments the clip is made of, chosen when it was asked for; the
    -- buffer's cleaner keeps them until the clip is done.
    first_seq         BIGINT NOT NULL,
    last_seq          BIGINT NOT NULL,
    -- The wall-clock span those segments cover (the request, snapped to keyframes).
    start_ms          BIGINT NOT NULL,
    end_ms            BIGINT NOT NULL,
    duration_ms       BIGINT,
    bytes             BIGINT,
    product_id        TEXT REFERENCES products (id),
    error             TEXT,
    created_at_ms     BIGINT NOT NULL,
    updated_at_ms     BIGINT NOT NULL
);
CREATE INDEX clips_show ON clips (show_id, created_at_ms);
CREATE INDEX clips_queue ON clips (status, format, created_at_ms);
