-- Media: the replay buffer's segment index. Identical in ../sqlite/0003_media.sql.

-- One row per closed segment file (`DATA_DIR/replay/SHOW/FILE`). A row is
-- written only once its file is complete, so nothing reads a file still being
-- written; the cleaner deletes rows, then files, older than the buffer.
CREATE TABLE segments (
    show_id        TEXT NOT NULL REFERENCES shows (id),
    seq            BIGINT NOT NULL,
    file           TEXT NOT NULL,
    start_ms       BIGINT NOT NULL,
    end_ms         BIGINT NOT NULL,
    bytes          BIGINT NOT NULL,
    -- 1 for the first segment after a (re)connect: timestamps restart there.
    starts_session BIGINT NOT NULL DEFAULT 0 CHECK (starts_session IN (0, 1)),
    PRIMARY KEY (show_id, seq)
);
CREATE INDEX segments_end ON segments (show_id, end_ms);
