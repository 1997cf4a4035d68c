-- Temp tables: reads stats_total_difference; creates none.
-- Each user's difference in the touched rounds, carried up to their competition totals; a user
-- with no scored prediction left in a competition leaves its board.
INSERT INTO stats_competition_total AS total (competition_id, user_id, total_points, predictions_scored, exact_scores, correct_outcomes)
SELECT * FROM stats_total_difference ORDER BY competition_id, user_id
ON CONFLICT ON CONSTRAINT stats_competition_total_key DO UPDATE SET
    total_points = total.total_points + excluded.total_points,
    predictions_scored = total.predictions_scored + excluded.predictions_scored,
    exact_scores = total.exact_scores + excluded.exact_scores,
    correct_outcomes = total.correct_outcomes + excluded.correct_outcomes;
DELETE FROM stats_competition_total AS total USING stats_total_difference AS d
WHERE total.competition_id = d.competition_id AND total.user_id = d.user_id AND total.predictions_scored = 0;
