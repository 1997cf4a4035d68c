-- Temp tables: reads none; creates stats_fresh_total.
-- A rebuild: every competition total recounted as the sum of its round rows.
DROP TABLE IF EXISTS pg_temp.stats_fresh_total;
CREATE TEMP TABLE stats_fresh_total ON COMMIT DROP AS
SELECT competition_id, user_id,
       sum(total_points)::integer AS total_points, sum(predictions_scored)::integer AS predictions_scored,
       sum(exact_scores)::integer AS exact_scores, sum(correct_outcomes)::integer AS correct_outcomes
FROM stats_round_leaderboard GROUP BY competition_id, user_id;
CREATE UNIQUE INDEX ON stats_fresh_total (competition_id, user_id);
ANALYZE stats_fresh_total;
DELETE FROM stats_competition_total AS total
WHERE NOT EXISTS (SELECT FROM stats_fresh_total AS f WHERE f.competition_id = total.competition_id AND f.user_id = total.user_id);
INSERT INTO stats_competition_total AS total (competition_id, user_id, total_points, predictions_scored, exact_scores, correct_outcomes)
SELECT * FROM stats_fresh_total ORDER BY competition_id, user_id
ON CONFLICT ON CONSTRAINT stats_competition_total_key DO UPDATE SET
    total_points = excluded.total_points, predictions_scored = excluded.predictions_scored,
    exact_scores = excluded.exact_scores, correct_outcomes = excluded.correct_outcomes
WHERE (total.total_points, total.predictions_scored, total.exact_scores, total.correct_outcomes)
      IS DISTINCT FROM (excluded.total_points, excluded.predictions_scored, excluded.exact_scores, excluded.correct_outcomes);
