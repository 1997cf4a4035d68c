-- Temp tables: reads none; creates none.
-- A rebuild: every average_points as its points give it (a difference of zero moves nothing,
-- so a wrong average with the right points is put right here).
UPDATE stats_match_summary
SET average_points = round(points_total::numeric / nullif(points_counted, 0), 3)
WHERE average_points IS DISTINCT FROM round(points_total::numeric / nullif(points_counted, 0), 3)
