-- Temp tables: reads none; creates none.
-- Changes logged and not refreshed yet: how many rows, and when the newest was logged.
SELECT (SELECT count(*) FROM stats_prediction_change) + (SELECT count(*) FROM stats_match_change),
       greatest((SELECT max(logged_at) FROM stats_prediction_change),
                (SELECT max(logged_at) FROM stats_match_change))
