-- Temp tables: reads stats_total_difference; creates none.
-- Whether the refresh changed any total: the boards built on them need a refresh only then.
SELECT EXISTS (SELECT FROM stats_total_difference)
