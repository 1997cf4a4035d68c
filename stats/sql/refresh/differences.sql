-- Temp tables: reads stats_logged_prediction, stats_touched_match; creates stats_round_difference, stats_summary_difference.
-- Reads stats_logged_prediction and stats_touched_match (consume_changes.sql); hands on
-- stats_round_difference and stats_summary_difference (temporary), read by totals.sql and
-- summaries.sql.
-- The statistics count each prediction under its match's counted state. A logged prediction
-- moves them by its row before (out) and after (in), under that state; a match whose state
-- changed takes every prediction it has now out of the old state and into the new one. Only a
-- changed match's predictions are read: a result costs its own predictions, whatever the season.
DROP TABLE IF EXISTS pg_temp.stats_round_difference, pg_temp.stats_summary_difference;
CREATE TEMP TABLE stats_round_difference (
    competition_id integer, round integer, user_id integer,
    total_points integer, predictions_scored integer, exact_scores integer, correct_outcomes integer
) ON COMMIT DROP;
CREATE TEMP TABLE stats_summary_difference (
    match_id integer, matches integer,
    predictions_count integer, home_win_predictions integer, draw_predictions integer,
    away_win_predictions integer, exact_scores integer, points_total integer, points_counted integer
) ON COMMIT DROP;
WITH scored_once AS MATERIALIZED (
    -- A prediction of a changed match whose one logged change is its points (a scoring, side
    -- 0): out of the old state with its points before, read below with the match's own
    -- predictions, instead of its log row's two sides here and its row again there (a
    -- correction's log of a scoring is most of its match: a third of the rows summed below).
    SELECT l.match_id, l.user_id, min(l.points_before) AS points_before
    FROM stats_logged_prediction AS l
    JOIN stats_touched_match AS t ON t.match_id = l.match_id AND t.changed AND t.was_there
    GROUP BY l.match_id, l.user_id
    HAVING count(*) = 1 AND bool_and(l.side = 0)
), logged AS (
    -- A logged change counts under the match's counted state; under any state but completed
    -- its points do not count, so a scoring's before and after cancel here. A row of side 0
    -- (only the points changed) is the prediction out with its points before, in with after.
    SELECT l.match_id, l.user_id, l.home_score, l.away_score,
           CASE WHEN t.was_status = 'completed' THEN change.points END AS points,
           sum(change.side)::integer AS side
    FROM stats_logged_prediction AS l
    JOIN stats_touched_match AS t ON t.match_id = l.match_id AND t.was_there
    CROSS JOIN LATERAL (VALUES
        (CASE WHEN l.side = 0 THEN 1 ELSE l.side END, l.points, true),
        (-1, l.points_before, l.side = 0)
    ) AS change (side, points, present)
    WHERE change.present
      AND NOT EXISTS (
          SELECT FROM scored_once AS s WHERE s.match_id = l.match_id AND s.user_id = l.user_id
      )
    GROUP BY 1, 2, 3, 4, 5
    HAVING sum(change.side) <> 0
), changed_predictions AS MATERIALIZED (
    -- A match that stays, out of its old state and into its new one: its predictions' own
    -- counts cancel, so only a completed state's side is read. Its predictions are read once
    -- (joined to both states, the planner read them through the index once per state), with
    -- the points the old state counted (was_points: before the scoring folded in above).
    -- A prediction of a match that stays completed in its round (a corrected result) and
    -- scores as before (points, exact score, outcome) would go out and back in with the same
    -- values, cancelling in every sum below: it is left out. A correction changes some of its
    -- match's predictions; the rest were each counted twice here for nothing.
    SELECT *
    FROM (
        SELECT t.*, p.user_id, p.home_score AS predicted_home, p.away_score AS predicted_away, p.points,
               CASE WHEN s.user_id IS NULL THEN p.points ELSE s.points_before END AS was_points
        FROM stats_touched_match AS t
        JOIN stats_prediction AS p ON p.match_id = t.match_id
        LEFT JOIN scored_once AS s ON s.match_id = p.match_id AND s.user_id = p.user_id
        WHERE t.changed
    ) AS prediction
    WHERE (
        was_there AND is_there AND was_status = 'completed' AND status = 'completed'
        AND (was_competition_id, was_round) = (competition_id, round)
        AND was_points IS NOT DISTINCT FROM points
        AND (predicted_home = was_home_score AND predicted_away = was_away_score)
            = (predicted_home = home_score AND predicted_away = away_score)
        AND (sign(predicted_home - predicted_away) = sign(was_home_score - was_away_score))
            = (sign(predicted_home - predicted_away) = sign(home_score - away_score))
    ) IS NOT TRUE
), counted AS MATERIALIZED (
    SELECT l.side, l.match_id, l.user_id, l.home_score, l.away_score, l.points,
           t.was_competition_id AS competition_id, t.was_round AS round, t.was_status AS status,
           t.was_home_score AS result_home, t.was_away_score AS result_away,
           true AS counts_predictions,
           t.was_status = 'completed' AND l.points IS NOT NULL AS scored
    FROM logged AS l
    JOIN stats_touched_match AS t ON t.match_id = l.match_id
    UNION ALL
    SELECT -1, match_id, user_id, predicted_home, predicted_away, was_points,
           was_competition_id, was_round, was_status, was_home_score, was_away_score,
           was_there <> is_there, was_status = 'completed' AND was_points IS NOT NULL
    FROM changed_predictions
    WHERE was_there AND (was_status = 'completed' OR was_there <> is_there)
    UNION ALL
    SELECT 1, match_id, user_id, predicted_home, predicted_away, points,
           competition_id, round, status, home_score, away_score,
           was_there <> is_there, status = 'completed' AND points IS NOT NULL
    FROM changed_predictions
    WHERE is_there AND (status = 'completed' OR was_there <> is_there)
), rounds AS (
    INSERT INTO stats_round_difference
    SELECT competition_id, round, user_id,
           sum(side * points),
           sum(side),
           coalesce(sum(side) FILTER (WHERE home_score = result_home AND away_score = result_away), 0),
           coalesce(sum(side) FILTER (WHERE sign(home_score - away_score) = sign(result_home - result_away)), 0)
    FROM counted
    -- A boolean column, not the two conditions: the planner then expects most rows (it
    -- expected a hundred of a result's 60,000, and sorted them where a hash was cheaper).
    WHERE scored
    GROUP BY competition_id, round, user_id
    HAVING sum(side * points) <> 0 OR sum(side) <> 0
        OR coalesce(sum(side) FILTER (WHERE home_score = result_home AND away_score = result_away), 0) <> 0
        OR coalesce(sum(side) FILTER (WHERE sign(home_score - away_score) = sign(result_home - result_away)), 0) <> 0
)
INSERT INTO stats_summary_difference
SELECT match_id, sum(matches), sum(predictions_count), sum(home_win_predictions), sum(draw_predictions),
       sum(away_win_predictions), sum(exact_scores), sum(points_total), sum(points_counted)
FROM (
    SELECT match_id, 0 AS matches,
           CASE WHEN counts_predictions THEN side ELSE 0 END AS predictions_count,
           CASE WHEN counts_predictions AND home_score > away_score THEN side ELSE 0 END AS home_win_predictions,
           CASE WHEN counts_predictions AND home_score = away_score THEN side ELSE 0 END AS draw_predictions,
           CASE WHEN counts_predictions AND home_score < away_score THEN side ELSE 0 END AS away_win_predictions,
           CASE WHEN status = 'completed' AND home_score = result_home AND away_score = result_away
                THEN side ELSE 0 END AS exact_scores,
           CASE WHEN status = 'completed' THEN side * coalesce(points, 0) ELSE 0 END AS points_total,
           CASE WHEN status = 'completed' AND points IS NOT NULL THEN side ELSE 0 END AS points_counted
    FROM counted
    UNION ALL
    SELECT match_id, is_there::integer - was_there::integer, 0, 0, 0, 0, 0, 0, 0
    FROM stats_touched_match
) AS change
GROUP BY match_id;
ANALYZE stats_summary_difference;
