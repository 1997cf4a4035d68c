-- Every player's totals from scratch, per grain (the relation's key before user_id, filled in by
-- stats/audit.py): only scored predictions of completed matches count.
SELECT {grain}p.user_id,
       sum(p.points)::integer AS total_points,
       count(*)::integer AS predictions_scored,
       count(*) FILTER (WHERE p.home_score = m.home_score AND p.away_score = m.away_score)::integer AS exact_scores,
       count(*) FILTER (WHERE sign(p.home_score - p.away_score) = sign(m.home_score - m.away_score))::integer AS correct_outcomes
FROM stats_prediction AS p JOIN stats_match AS m ON m.id = p.match_id
WHERE p.points IS NOT NULL AND m.status = 'completed'
GROUP BY {grain}p.user_id
