-- Temp tables: reads stats_touched_match; creates none.
-- Recompute the touched matches' summaries (one row per existing match, predicted or not),
-- writing only rows whose values change, and drop the summaries of deleted matches.
DELETE FROM stats_match_summary AS s USING stats_touched_match AS t
WHERE s.match_id = t.match_id AND NOT EXISTS (SELECT FROM stats_match AS m WHERE m.id = t.match_id);
INSERT INTO stats_match_summary AS summary
SELECT m.id,
       count(p.id)::integer,
       count(*) FILTER (WHERE p.home_score > p.away_score)::integer,
       count(*) FILTER (WHERE p.home_score = p.away_score)::integer,
       count(*) FILTER (WHERE p.home_score < p.away_score)::integer,
       count(*) FILTER (WHERE m.status = 'completed' AND p.home_score = m.home_score AND p.away_score = m.away_score)::integer,
       round(avg(p.points) FILTER (WHERE m.status = 'completed'), 3)::numeric(6, 3)
FROM stats_touched_match AS t
JOIN stats_match AS m ON m.id = t.match_id
LEFT JOIN stats_prediction AS p ON p.match_id = m.id
GROUP BY m.id
ORDER BY m.id
ON CONFLICT ON CONSTRAINT stats_match_summary_key DO UPDATE SET
    predictions_count = excluded.predictions_count, home_win_predictions = excluded.home_win_predictions,
    draw_predictions = excluded.draw_predictions, away_win_predictions = excluded.away_win_predictions,
    exact_scores = excluded.exact_scores, average_points = excluded.average_points
WHERE (summary.predictions_count, summary.home_win_predictions, summary.draw_predictions, summary.away_win_predictions, summary.exact_scores, summary.average_points)
      IS DISTINCT FROM (excluded.predictions_count, excluded.home_win_predictions, excluded.draw_predictions, excluded.away_win_predictions, excluded.exact_scores, excluded.average_points);
