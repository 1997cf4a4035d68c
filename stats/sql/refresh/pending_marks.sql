-- Temp tables: reads none; creates none.
-- Writes marked and not refreshed yet: how many marks, and when the newest was made.
SELECT count(*), max(marked_at) FROM stats_touched
