-- Temp tables: reads none; creates stats_summary_difference.
-- Hands on stats_summary_difference (temporary), read by summaries.sql.
-- A rebuild: the whole change log this snapshot sees is consumed (a recount covers it), and each
-- summary's difference is its recomputation from the predictions minus what is stored.
DELETE FROM stats_prediction_change;
DELETE FROM stats_match_change;
DROP TABLE IF EXISTS pg_temp.stats_summary_difference;
CREATE TEMP TABLE stats_summary_difference ON COMMIT DROP AS
SELECT match_id, sum(matches)::integer AS matches,
       sum(predictions_count)::integer AS predictions_count,
       sum(home_win_predictions)::integer AS home_win_predictions,
       sum(draw_predictions)::integer AS draw_predictions,
       sum(away_win_predictions)::integer AS away_win_predictions,
       sum(exact_scores)::integer AS exact_scores,
       sum(points_total)::integer AS points_total,
       sum(points_counted)::integer AS points_counted
FROM (
    SELECT match_id, 1 AS matches, predictions_count, home_win_predictions, draw_predictions,
           away_win_predictions, exact_scores, points_total, points_counted
    FROM ({fresh_summaries}) AS fresh
    UNION ALL
    SELECT match_id, -1, -predictions_count, -home_win_predictions, -draw_predictions,
           -away_win_predictions, -exact_scores, -points_total, -points_counted
    FROM stats_match_summary
) AS change
GROUP BY match_id
HAVING (sum(matches), sum(predictions_count), sum(home_win_predictions), sum(draw_predictions),
        sum(away_win_predictions), sum(exact_scores), sum(points_total), sum(points_counted))
       <> (0, 0, 0, 0, 0, 0, 0, 0);
