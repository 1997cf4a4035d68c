-- Temp tables: reads stats_summary_difference; creates none.
-- Reads stats_summary_difference (differences.sql, or rebuild_differences.sql).
-- Moves each touched match summary by its difference: a match that appeared gets its row, one
-- that is gone loses it; average_points follows from the points kept beside it.
DELETE FROM stats_match_summary AS s USING stats_summary_difference AS d
WHERE s.match_id = d.match_id AND d.matches < 0;
INSERT INTO stats_match_summary AS s (
    match_id, predictions_count, home_win_predictions, draw_predictions, away_win_predictions,
    exact_scores, average_points, points_total, points_counted
)
SELECT match_id, predictions_count, home_win_predictions, draw_predictions, away_win_predictions,
       exact_scores, round(points_total::numeric / nullif(points_counted, 0), 3), points_total, points_counted
FROM stats_summary_difference
WHERE matches >= 0
  AND (matches, predictions_count, home_win_predictions, draw_predictions, away_win_predictions,
       exact_scores, points_total, points_counted) <> (0, 0, 0, 0, 0, 0, 0, 0)
ORDER BY match_id
ON CONFLICT ON CONSTRAINT stats_match_summary_key DO UPDATE SET
    predictions_count = s.predictions_count + excluded.predictions_count,
    home_win_predictions = s.home_win_predictions + excluded.home_win_predictions,
    draw_predictions = s.draw_predictions + excluded.draw_predictions,
    away_win_predictions = s.away_win_predictions + excluded.away_win_predictions,
    exact_scores = s.exact_scores + excluded.exact_scores,
    points_total = s.points_total + excluded.points_total,
    points_counted = s.points_counted + excluded.points_counted,
    average_points = round(
        (s.points_total + excluded.points_total)::numeric
        / nullif(s.points_counted + excluded.points_counted, 0), 3
    );
