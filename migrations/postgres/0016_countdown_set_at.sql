-- When a countdown's end was last set (created, or moved by PATCH
-- `seconds`): with ends_at_ms, its full length, which pages never show more
-- of (a clock offset a few ms off would otherwise show "1:01" of a minute).
-- Same in ../sqlite/0015_countdown_set_at.sql.
ALTER TABLE countdowns ADD COLUMN set_at_ms BIGINT;
