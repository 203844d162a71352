-- A clip's end is cut at the asked frame; its start snaps back to the
-- keyframe at or before the asked one (a cut without re-encoding must begin
-- on one). The asked start is kept so the clip desk can say by how much the
-- clip begins early. NULL for clips made before this column existed.
ALTER TABLE clips ADD COLUMN asked_start_ms INTEGER;
