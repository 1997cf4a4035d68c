-- Temp tables: reads none; creates stats_touched_round, stats_touched_match.
-- The rounds and matches written since the last refresh: the marks this snapshot sees, consumed.
-- Marks committed after the snapshot stay for the follow-up refresh.
DROP TABLE IF EXISTS pg_temp.stats_touched_round, pg_temp.stats_touched_match;
CREATE TEMP TABLE stats_touched_round (competition_id integer, round integer, PRIMARY KEY (competition_id, round)) ON COMMIT DROP;
CREATE TEMP TABLE stats_touched_match (match_id integer PRIMARY KEY) ON COMMIT DROP;
WITH consumed AS (DELETE FROM stats_touched RETURNING match_id, competition_id, round),
     rounds AS (INSERT INTO stats_touched_round SELECT DISTINCT competition_id, round FROM consumed WHERE competition_id IS NOT NULL AND round IS NOT NULL)
INSERT INTO stats_touched_match SELECT DISTINCT match_id FROM consumed WHERE match_id IS NOT NULL;
ANALYZE stats_touched_round, stats_touched_match;
