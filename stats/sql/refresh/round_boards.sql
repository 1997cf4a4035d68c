-- Temp tables: reads stats_touched_round; creates stats_fresh_round, stats_total_difference.
-- Recompute the touched round boards from their predictions, note each user's difference for the
-- competition totals (carry_totals.sql), then write only the board rows whose values change.
DROP TABLE IF EXISTS pg_temp.stats_fresh_round, pg_temp.stats_total_difference;
CREATE TEMP TABLE stats_fresh_round ON COMMIT DROP AS
SELECT totals.*,
       rank() OVER (PARTITION BY competition_id, round ORDER BY total_points DESC, exact_scores DESC)::integer AS rank,
       row_number() OVER (PARTITION BY competition_id, round ORDER BY total_points DESC, exact_scores DESC, user_id)::integer AS position
FROM (
    SELECT m.competition_id, m.round::integer AS round, p.user_id,
           sum(p.points)::integer AS total_points,
           count(*)::integer AS predictions_scored,
           count(*) FILTER (WHERE p.home_score = m.home_score AND p.away_score = m.away_score)::integer AS exact_scores,
           count(*) FILTER (WHERE sign(p.home_score - p.away_score) = sign(m.home_score - m.away_score))::integer AS correct_outcomes
    FROM stats_touched_round AS t
    JOIN stats_match AS m ON m.competition_id = t.competition_id AND m.round = t.round
    JOIN stats_prediction AS p ON p.match_id = m.id
    WHERE m.status = 'completed' AND p.points IS NOT NULL
    GROUP BY m.competition_id, m.round, p.user_id
) AS totals;
CREATE UNIQUE INDEX ON stats_fresh_round (competition_id, round, user_id);
ANALYZE stats_fresh_round;

CREATE TEMP TABLE stats_total_difference ON COMMIT DROP AS
SELECT competition_id, user_id,
       sum(total_points)::integer AS total_points, sum(predictions_scored)::integer AS predictions_scored,
       sum(exact_scores)::integer AS exact_scores, sum(correct_outcomes)::integer AS correct_outcomes
FROM (
    SELECT competition_id, user_id, total_points, predictions_scored, exact_scores, correct_outcomes FROM stats_fresh_round
    UNION ALL
    SELECT r.competition_id, r.user_id, -r.total_points, -r.predictions_scored, -r.exact_scores, -r.correct_outcomes
    FROM stats_round_leaderboard AS r JOIN stats_touched_round AS t ON t.competition_id = r.competition_id AND t.round = r.round
) AS change
GROUP BY competition_id, user_id
HAVING (sum(total_points), sum(predictions_scored), sum(exact_scores), sum(correct_outcomes)) <> (0, 0, 0, 0);

DELETE FROM stats_round_leaderboard AS r USING stats_touched_round AS t
WHERE r.competition_id = t.competition_id AND r.round = t.round
  AND NOT EXISTS (
      SELECT FROM stats_fresh_round AS f
      WHERE f.competition_id = r.competition_id AND f.round = r.round AND f.user_id = r.user_id
  );
INSERT INTO stats_round_leaderboard AS board (competition_id, round, user_id, total_points, predictions_scored, exact_scores, correct_outcomes, rank, position)
SELECT competition_id, round, user_id, total_points, predictions_scored, exact_scores, correct_outcomes, rank, position
FROM stats_fresh_round ORDER BY competition_id, round, user_id
ON CONFLICT ON CONSTRAINT stats_round_leaderboard_key DO UPDATE SET
    total_points = excluded.total_points, predictions_scored = excluded.predictions_scored,
    exact_scores = excluded.exact_scores, correct_outcomes = excluded.correct_outcomes,
    rank = excluded.rank, position = excluded.position
WHERE (board.total_points, board.predictions_scored, board.exact_scores, board.correct_outcomes, board.rank, board.position)
      IS DISTINCT FROM (excluded.total_points, excluded.predictions_scored, excluded.exact_scores, excluded.correct_outcomes, excluded.rank, excluded.position);
