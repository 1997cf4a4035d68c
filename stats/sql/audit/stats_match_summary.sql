-- Every match's summary, from scratch: one row per match, predicted or not; predictions made
-- before kickoff count too.
SELECT m.id AS match_id,
       count(p.id)::integer AS predictions_count,
       count(*) FILTER (WHERE p.home_score > p.away_score)::integer AS home_win_predictions,
       count(*) FILTER (WHERE p.home_score = p.away_score)::integer AS draw_predictions,
       count(*) FILTER (WHERE p.home_score < p.away_score)::integer AS away_win_predictions,
       count(*) FILTER (WHERE m.status = 'completed' AND p.home_score = m.home_score AND p.away_score = m.away_score)::integer AS exact_scores,
       round(avg(p.points) FILTER (WHERE m.status = 'completed'), 3)::numeric(6, 3) AS average_points,
       coalesce(sum(p.points) FILTER (WHERE m.status = 'completed'), 0)::integer AS points_total,
       count(p.points) FILTER (WHERE m.status = 'completed')::integer AS points_counted
FROM stats_match AS m LEFT JOIN stats_prediction AS p ON p.match_id = m.id
GROUP BY m.id
