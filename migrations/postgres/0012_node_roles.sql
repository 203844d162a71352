-- What each node does (DROPCAST_ROLES) and, for a node that ingests, where
-- publishers reach it: a node without ingest hands creators the address of
-- one that has it.
ALTER TABLE nodes ADD COLUMN roles TEXT NOT NULL DEFAULT 'api,ingest,workers';
ALTER TABLE nodes ADD COLUMN rtmp_base TEXT;
ALTER TABLE nodes ADD COLUMN srt_base TEXT;
