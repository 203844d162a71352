-- The clip desk's timeline: thumbnails and commerce events. Identical in ../sqlite/0005_timeline.sql.

-- 1 once DATA_DIR/replay/SHOW/segN.jpg (the segment's first frame) is written.
ALTER TABLE segments ADD COLUMN thumbnail BIGINT NOT NULL DEFAULT 0 CHECK (thumbnail IN (0, 1));

-- show_events (0002) held pins only; it now also holds countdowns, stock
-- figures, sales and stream up/down, each with its JSON here
-- (wire::TimelineKind). Pins keep being written in the pin's own
-- transaction, without a body. Rows are kept for the life of the show, not
-- trimmed with the replay buffer, since clips outlive it.
ALTER TABLE show_events ADD COLUMN body TEXT;
