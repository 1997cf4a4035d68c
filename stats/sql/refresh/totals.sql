-- Temp tables: reads stats_round_difference; creates stats_difference, stats_moved.
-- A template, composed by stats/refresh.py for each grain (round, competition, overall):
-- `totals` the per-player totals, `counts` the players per group, `key` the totals' key,
-- `board` the board's key columns (each followed by a comma; none overall), `joined` and
-- `moved_joined` the key matched between t (the totals) and d (the difference) or m (the moved
-- players), `difference` the grain's difference (stats_round_difference rolled up to it, or a
-- rebuild's recomputation minus what is stored), `keep_now` nothing, or (by difference, on a
-- board with movement) the statement that keeps the moved players' totals now for
-- previous_moved.sql (stats_<grain>_now).
-- Hands on stats_moved (temporary), read by counts.sql: each player whose totals move, with
-- the group they stood in and the one they stand in now.
DROP TABLE IF EXISTS pg_temp.stats_difference, pg_temp.stats_moved;
-- In the totals' key order, so that the rows below are found and written page after page.
CREATE TEMP TABLE stats_difference ON COMMIT DROP AS
SELECT * FROM ({difference}) AS difference ORDER BY {key};
-- `index_joins`, by difference: each moved player's row is found through the key's index, so
-- the work is the players the difference names, never the whole table. Costed by the planner,
-- a hash of every stored row looks cheaper than thousands of index probes, and it is not: it
-- read the season's round totals for one round's players (the round totals grew with the
-- season), and measured slower even at a quarter of a season. A recount, which may move most
-- players, leaves the planner free.
{index_joins}
-- Each stored row moves by its difference, found once through the key's index; it was what it
-- is now less the difference.
CREATE TEMP TABLE stats_moved ON COMMIT DROP AS
WITH stored AS (
    UPDATE {totals} AS t SET
        total_points = t.total_points + d.total_points,
        predictions_scored = t.predictions_scored + d.predictions_scored,
        exact_scores = t.exact_scores + d.exact_scores,
        correct_outcomes = t.correct_outcomes + d.correct_outcomes
    FROM stats_difference AS d
    WHERE {joined}
    RETURNING d.*, true AS was_stored,
        t.total_points - d.total_points AS was_points, t.exact_scores - d.exact_scores AS was_exact,
        t.predictions_scored - d.predictions_scored > 0 AS was_there,
        t.total_points AS now_points, t.exact_scores AS now_exact,
        t.predictions_scored > 0 AS is_there
)
SELECT * FROM stored;
-- The players the totals did not have: the difference less the rows moved above (a set
-- difference, hashed: no join, whatever `index_joins` allows).
INSERT INTO stats_moved
SELECT new.*, false, NULL, NULL, NULL, new.total_points, new.exact_scores, new.predictions_scored > 0
FROM (
    SELECT * FROM stats_difference
    EXCEPT ALL
    SELECT {key}, total_points, predictions_scored, exact_scores, correct_outcomes FROM stats_moved
) AS new;
INSERT INTO {totals} ({key}, total_points, predictions_scored, exact_scores, correct_outcomes)
SELECT {key}, total_points, predictions_scored, exact_scores, correct_outcomes
FROM stats_moved WHERE NOT was_stored;
DELETE FROM {totals} AS t USING stats_moved AS m WHERE {moved_joined} m.was_stored AND NOT m.is_there;
-- The planner free again for the rest of the refresh (the counts, the rank views).
SET LOCAL enable_hashjoin = on;
SET LOCAL enable_mergejoin = on;
{keep_now}
