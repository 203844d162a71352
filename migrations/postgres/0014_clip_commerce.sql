-- Clips that sell. Same in ../sqlite/0013_clip_commerce.sql.
-- A clip's poster (a JPEG of its first frame, for its page and link
-- previews), made with the clip and kept here so every node serves it.
ALTER TABLE clips ADD COLUMN poster BYTEA;
-- Views of a clip's page and taps on its product, one row each: rows
-- written by whichever node served them, counted by any.
CREATE TABLE clip_events (
    id      TEXT PRIMARY KEY,
    clip_id TEXT NOT NULL REFERENCES clips (id),
    kind    TEXT NOT NULL CHECK (kind IN ('view', 'click')),
    at_ms   BIGINT NOT NULL
);
CREATE INDEX clip_events_clip ON clip_events (clip_id, kind);
-- The orders placed from a clip's page.
CREATE TABLE clip_orders (
    order_id TEXT PRIMARY KEY REFERENCES orders (id),
    clip_id  TEXT NOT NULL REFERENCES clips (id)
);
CREATE INDEX clip_orders_clip ON clip_orders (clip_id);
