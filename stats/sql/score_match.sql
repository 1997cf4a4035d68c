-- Scores every prediction of one match in one statement, writing only the rows whose points
-- change: re-scoring an unchanged match writes nothing. NULL result_home/result_away (a void
-- match) sets points to NULL.
UPDATE stats_prediction
SET points = stats_prediction_points(
    home_score, away_score, %(result_home)s, %(result_away)s,
    %(exact_points)s, %(goal_difference_points)s, %(outcome_points)s
)
WHERE match_id = %(match_id)s
  AND points IS DISTINCT FROM stats_prediction_points(
    home_score, away_score, %(result_home)s, %(result_away)s,
    %(exact_points)s, %(goal_difference_points)s, %(outcome_points)s
  )
