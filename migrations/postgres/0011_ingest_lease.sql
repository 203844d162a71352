-- One publisher per show across the cluster: the session publishing a show
-- holds its lease (which node, which of the node's processes, which
-- session). It lives as long as the node's heartbeat in `nodes`; a session
-- that ends gives it back, and a node whose heartbeat lapsed loses it (its
-- shows go offline, and another publisher may take them).
ALTER TABLE shows ADD COLUMN ingest_node TEXT;
ALTER TABLE shows ADD COLUMN ingest_instance TEXT;
ALTER TABLE shows ADD COLUMN ingest_session TEXT;
