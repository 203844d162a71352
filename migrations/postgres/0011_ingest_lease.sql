-- One publisher per show across the cluster: the session publishing a show
-- holds its lease (which node, which of the node's processes, which
-- session). It lives as long as the node's heartbeat in `nodes`; a session
-- that ends gives it back, and a node whose heartbeat lapsed loses it (its
-- shows go offline, and another publisher may take them).
ALTER TABLE shows ADD COLUMN ingest_node TEXT;
ALTER TABLE shows ADD COLUMN ingest_instance TEXT;
ALTER TABLE shows ADD COLUMN ingest_session TEXT;

-- Which node recorded each segment (its file is in that node's data dir):
-- other nodes fetch it from there. NULL for segments recorded before.
ALTER TABLE segments ADD COLUMN node_id TEXT;

-- Which process is making a running clip: a restarted node requeues only
-- its own previous process's, the others a dead node's once its heartbeat
-- lapsed.
ALTER TABLE clips ADD COLUMN owner_node TEXT;
ALTER TABLE clips ADD COLUMN owner_instance TEXT;
