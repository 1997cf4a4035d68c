-- Temp tables: reads none; creates stats_touched_round, stats_touched_match.
-- Every round and match, stored or existing: a rebuild from scratch. Pending marks are covered.
DROP TABLE IF EXISTS pg_temp.stats_touched_round, pg_temp.stats_touched_match;
CREATE TEMP TABLE stats_touched_round (competition_id integer, round integer, PRIMARY KEY (competition_id, round)) ON COMMIT DROP;
CREATE TEMP TABLE stats_touched_match (match_id integer PRIMARY KEY) ON COMMIT DROP;
DELETE FROM stats_touched;
INSERT INTO stats_touched_round SELECT competition_id, round FROM stats_match UNION SELECT DISTINCT competition_id, round FROM stats_round_leaderboard;
INSERT INTO stats_touched_match SELECT id FROM stats_match UNION SELECT match_id FROM stats_match_summary;
ANALYZE stats_touched_round, stats_touched_match;
