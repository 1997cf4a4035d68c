-- Temp tables: reads none; creates stats_logged_match, stats_logged_prediction, stats_touched_match.
-- Hands on stats_logged_prediction and stats_touched_match (temporary, dropped at commit), read
-- by differences.sql.
-- The change log this snapshot sees, consumed: rows committed after it stay for the next refresh.
-- Each touched match with the state the statistics count it in (before its first logged change)
-- and its state now; `changed` when they differ.
DROP TABLE IF EXISTS pg_temp.stats_logged_prediction, pg_temp.stats_logged_match, pg_temp.stats_touched_match;
CREATE TEMP TABLE stats_logged_prediction ON COMMIT DROP AS
SELECT side, match_id, user_id, home_score, away_score, points, points_before
FROM stats_prediction_change WITH NO DATA;
WITH consumed AS (
    DELETE FROM stats_prediction_change
    RETURNING side, match_id, user_id, home_score, away_score, points, points_before
)
INSERT INTO stats_logged_prediction SELECT * FROM consumed;
-- Its statistics: without them the planner takes a result's 20,000 rows for a hundred, and
-- sorts where it would hash.
ANALYZE stats_logged_prediction;
CREATE TEMP TABLE stats_logged_match ON COMMIT DROP AS
SELECT id, match_id, existed, competition_id, round, status, home_score, away_score FROM stats_match_change WITH NO DATA;
WITH consumed AS (
    DELETE FROM stats_match_change RETURNING id, match_id, existed, competition_id, round, status, home_score, away_score
)
INSERT INTO stats_logged_match SELECT * FROM consumed;
CREATE TEMP TABLE stats_touched_match ON COMMIT DROP AS
WITH first_change AS (
    SELECT DISTINCT ON (match_id) * FROM stats_logged_match WHERE match_id IS NOT NULL ORDER BY match_id, id
), touched AS (
    SELECT match_id FROM first_change UNION SELECT match_id FROM stats_logged_prediction
), states AS (
    SELECT t.match_id,
           CASE WHEN f.match_id IS NULL THEN m.id IS NOT NULL ELSE f.existed END AS was_there,
           CASE WHEN f.match_id IS NULL THEN m.competition_id ELSE f.competition_id END AS was_competition_id,
           CASE WHEN f.match_id IS NULL THEN m.round ELSE f.round END AS was_round,
           CASE WHEN f.match_id IS NULL THEN m.status ELSE f.status END AS was_status,
           CASE WHEN f.match_id IS NULL THEN m.home_score ELSE f.home_score END AS was_home_score,
           CASE WHEN f.match_id IS NULL THEN m.away_score ELSE f.away_score END AS was_away_score,
           m.id IS NOT NULL AS is_there, m.competition_id, m.round, m.status, m.home_score, m.away_score
    FROM touched AS t
    LEFT JOIN first_change AS f ON f.match_id = t.match_id
    LEFT JOIN stats_match AS m ON m.id = t.match_id
)
SELECT *,
       (was_there, was_competition_id, was_round, was_status, was_home_score, was_away_score)
       IS DISTINCT FROM (is_there, competition_id, round, status, home_score, away_score) AS changed
FROM states;
ANALYZE stats_touched_match;
SELECT EXISTS (SELECT FROM stats_logged_match WHERE match_id IS NULL)
