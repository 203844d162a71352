-- What the studio is told about the incoming stream: the keyframe interval
-- the ingest measured (the LL-HLS live edge needs short ones) and why the
-- server last cut a stream off (flood, full disk, stream error). Written by
-- whichever node has the publisher; read by any.
CREATE TABLE stream_health (
    show_id TEXT PRIMARY KEY REFERENCES shows(id),
    -- The publisher's session began (the row is reset then).
    session_started_at_ms INTEGER NOT NULL,
    keyframe_interval_ms INTEGER,
    cut_code TEXT,
    cut_detail TEXT,
    cut_at_ms INTEGER,
    -- Streams of this show the server has cut, ever.
    cuts INTEGER NOT NULL DEFAULT 0
);
