-- A template, composed by stats/refresh.py for each grain (round, competition, overall):
-- `totals` the per-player totals, `counts` the players per group, `key` the totals' key,
-- `board` the board's key columns (each followed by a comma; none overall), `joined` the key
-- matched between d (the difference) and t (the totals), `difference` the grain's difference.
-- Hands on: stats_moved (temporary), read by counts.sql: each player whose totals move, with
-- the group they stood in and the one they stand in now.
DROP TABLE IF EXISTS pg_temp.stats_difference, pg_temp.stats_moved;
CREATE TEMP TABLE stats_difference ON COMMIT DROP AS {difference};
CREATE TEMP TABLE stats_moved ON COMMIT DROP AS
SELECT d.*,
       t.total_points AS was_points, t.exact_scores AS was_exact, t.predictions_scored > 0 AS was_there,
       coalesce(t.total_points, 0) + d.total_points AS now_points,
       coalesce(t.exact_scores, 0) + d.exact_scores AS now_exact,
       coalesce(t.predictions_scored, 0) + d.predictions_scored > 0 AS is_there
FROM stats_difference AS d LEFT JOIN {totals} AS t ON {joined};
INSERT INTO {totals} AS t ({key}, total_points, predictions_scored, exact_scores, correct_outcomes)
SELECT {key}, total_points, predictions_scored, exact_scores, correct_outcomes
FROM stats_difference ORDER BY {key}
ON CONFLICT ({key}) DO UPDATE SET
    total_points = t.total_points + excluded.total_points,
    predictions_scored = t.predictions_scored + excluded.predictions_scored,
    exact_scores = t.exact_scores + excluded.exact_scores,
    correct_outcomes = t.correct_outcomes + excluded.correct_outcomes;
DELETE FROM {totals} AS t USING stats_difference AS d WHERE {joined} AND t.predictions_scored <= 0;
