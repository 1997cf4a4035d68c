-- The change log's triggers join their transition tables (old and new rows) by id. PL/pgSQL
-- plans that statement once per connection, with the row counts of the first statement that
-- fires it: after an update that changed no row or one (a re-score of an unchanged match, one
-- prediction changed), a nested loop, quadratic for every later scoring on that connection
-- (20,000 rows: 26 s instead of 0.8 s). Without nested loops the plan is a hash join; without
-- JIT, whose compiling the cost of the nested loop that remains (disabled, the only way to read
-- the VALUES row by row) set off: 0.2 s on every scoring.
ALTER FUNCTION stats_log_prediction_changes() SET enable_nestloop = off;
ALTER FUNCTION stats_log_prediction_changes() SET jit = off;
ALTER FUNCTION stats_log_match_changes() SET enable_nestloop = off;
ALTER FUNCTION stats_log_match_changes() SET jit = off;
