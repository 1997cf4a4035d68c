-- The scoring rules, once, in SQL (stats/scoring.py is the Python reference they must match).
-- A NULL result (a void match) gives NULL points. IMMUTABLE and a single expression, so the
-- planner inlines it: calling it costs the same as writing the CASE out.
CREATE FUNCTION stats_prediction_points(
    predicted_home integer,
    predicted_away integer,
    result_home integer,
    result_away integer,
    exact_points integer,
    goal_difference_points integer,
    outcome_points integer
) RETURNS smallint
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT (CASE
        WHEN result_home IS NULL OR result_away IS NULL THEN NULL
        WHEN predicted_home = result_home AND predicted_away = result_away THEN exact_points
        WHEN predicted_home - predicted_away = result_home - result_away THEN goal_difference_points
        WHEN sign(predicted_home - predicted_away) = sign(result_home - result_away) THEN outcome_points
        ELSE 0
    END)::smallint
$$;
