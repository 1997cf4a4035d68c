-- Temp tables: reads none; creates stats_latest_was, stats_latest_now.
-- After the totals moved: the latest round that counted in each competition (its highest round
-- with a row in stats_round_total: a correction or a late result of an earlier round leaves it),
-- kept with that round's latest result, by which the overall board's is the latest of these.
-- Hands on stats_latest_was (as stored before this refresh) and stats_latest_now (temporary),
-- read by previous_moved.sql and previous_recount.sql, and stores the new one, writing only
-- what differs. Reads the completed matches (not the players): a few
-- thousand rows a season, each checked against the round totals' key.
DROP TABLE IF EXISTS pg_temp.stats_latest_was, pg_temp.stats_latest_now;
CREATE TEMP TABLE stats_latest_was ON COMMIT DROP AS SELECT * FROM stats_latest_round;
CREATE TEMP TABLE stats_latest_now ON COMMIT DROP AS
SELECT DISTINCT ON (m.competition_id)
       m.competition_id, m.round, m.id::integer AS match_id, m.completed_at
FROM stats_match AS m
WHERE m.status = 'completed'
  AND EXISTS (
      SELECT FROM stats_round_total AS r WHERE r.competition_id = m.competition_id AND r.round = m.round
  )
ORDER BY m.competition_id, m.round DESC, m.completed_at DESC, m.id DESC;
-- A row per competition: known to the planner, it reads the rounds' rows through their key
-- (previous_moved.sql) where it would merge them with the whole season's round totals.
ANALYZE stats_latest_was, stats_latest_now;
DELETE FROM stats_latest_round AS l
WHERE NOT EXISTS (SELECT FROM stats_latest_now AS n WHERE n.competition_id = l.competition_id);
INSERT INTO stats_latest_round AS l (competition_id, round, match_id, completed_at)
SELECT competition_id, round, match_id, completed_at FROM stats_latest_now
ORDER BY competition_id
ON CONFLICT (competition_id) DO UPDATE
SET round = excluded.round, match_id = excluded.match_id, completed_at = excluded.completed_at
WHERE (l.round, l.match_id, l.completed_at)
      IS DISTINCT FROM (excluded.round, excluded.match_id, excluded.completed_at);
