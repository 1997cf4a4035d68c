-- Temp tables: reads stats_round_difference, stats_latest_was, stats_latest_now; creates stats_moved.
-- A template, composed by stats/refresh.py for each grain with movement (competition, overall):
-- `totals` the grain's totals, `board` its key columns (each followed by a comma; none
-- overall), `was_latest` and `now_latest` each board's latest round ({board} latest_competition_id,
-- latest_round) before and after this refresh (from stats_latest_was and stats_latest_now,
-- latest_rounds.sql), `board_<a>_<b>` the board's key matched between two aliases (each
-- condition followed by AND).
-- A player's previous totals on a board are their totals less their row of the board's latest
-- round. The counts leave out the (0, 0) group, the lowest (points and exact scores are never
-- negative): nobody there stands above anyone, so its size ranks no one, and a player off the
-- board stands there too (previous_rank.sql answers its rank from the group above it). Hands on
-- stats_moved (temporary, as totals.sql does), read by counts.sql composed for the previous
-- counts: each player whose previous totals moved, with the group they stood in (was_there:
-- not (0, 0)) and the one they stand in now. Who may have moved: on a board whose latest round
-- stayed, a player whose difference on the board is not all in that round (a result in the
-- latest round moves totals and round together: nobody, found from the difference alone); on a
-- board whose latest round changed, every player of stats_round_difference and every player of
-- the old and the new round (the first result of a round: once per round and board). Before
-- this refresh = now less the difference.
DROP TABLE IF EXISTS pg_temp.stats_moved;
CREATE TEMP TABLE stats_moved ON COMMIT DROP AS
WITH was_latest AS MATERIALIZED ({was_latest}),
now_latest AS MATERIALIZED ({now_latest}),
relatest AS MATERIALIZED (
    -- The boards whose latest round changed, with the old round and with the new one.
    SELECT w.* FROM was_latest AS w
    WHERE NOT EXISTS (
        SELECT FROM now_latest AS n
        WHERE {board_n_w} n.latest_competition_id = w.latest_competition_id AND n.latest_round = w.latest_round
    )
    UNION
    SELECT n.* FROM now_latest AS n
    WHERE NOT EXISTS (
        SELECT FROM was_latest AS w
        WHERE {board_n_w} n.latest_competition_id = w.latest_competition_id AND n.latest_round = w.latest_round
    )
), board_difference AS MATERIALIZED (
    SELECT {board} user_id, sum(total_points) AS total_points, sum(exact_scores) AS exact_scores
    FROM stats_round_difference
    GROUP BY {board} user_id
), affected AS (
    SELECT d.*
    FROM board_difference AS d
    LEFT JOIN now_latest AS nl ON {board_nl_d} TRUE
    LEFT JOIN stats_round_difference AS rd
      ON rd.competition_id = nl.latest_competition_id AND rd.round = nl.latest_round AND rd.user_id = d.user_id
    WHERE EXISTS (SELECT FROM relatest AS l WHERE {board_l_d} TRUE)
       OR (d.total_points, d.exact_scores)
          IS DISTINCT FROM (coalesce(rd.total_points, 0)::bigint, coalesce(rd.exact_scores, 0)::bigint)
    UNION
    SELECT {board} user_id, 0, 0 FROM (
        SELECT l.*, r.user_id
        FROM relatest AS l
        JOIN stats_round_total AS r
          ON r.competition_id = l.latest_competition_id AND r.round = l.latest_round
    ) AS in_relatest
), standing AS (
    SELECT {board_a} a.user_id,
           coalesce(t.total_points, 0) - coalesce(d.total_points, 0)
               - (coalesce(rw.total_points, 0) - coalesce(rwd.total_points, 0)) AS was_points,
           coalesce(t.exact_scores, 0) - coalesce(d.exact_scores, 0)
               - (coalesce(rw.exact_scores, 0) - coalesce(rwd.exact_scores, 0)) AS was_exact,
           coalesce(t.total_points, 0) - coalesce(rn.total_points, 0) AS now_points,
           coalesce(t.exact_scores, 0) - coalesce(rn.exact_scores, 0) AS now_exact
    FROM (SELECT DISTINCT {board} user_id FROM affected) AS a
    LEFT JOIN {totals} AS t ON {board_t_a} t.user_id = a.user_id
    LEFT JOIN board_difference AS d ON {board_d_a} d.user_id = a.user_id
    LEFT JOIN was_latest AS wl ON {board_wl_a} TRUE
    LEFT JOIN stats_round_total AS rw
      ON rw.competition_id = wl.latest_competition_id AND rw.round = wl.latest_round AND rw.user_id = a.user_id
    LEFT JOIN stats_round_difference AS rwd
      ON rwd.competition_id = wl.latest_competition_id AND rwd.round = wl.latest_round AND rwd.user_id = a.user_id
    LEFT JOIN now_latest AS nl ON {board_nl_a} TRUE
    LEFT JOIN stats_round_total AS rn
      ON rn.competition_id = nl.latest_competition_id AND rn.round = nl.latest_round AND rn.user_id = a.user_id
)
SELECT *, (was_points, was_exact) <> (0, 0) AS was_there, (now_points, now_exact) <> (0, 0) AS is_there
FROM standing
WHERE (now_points, now_exact) IS DISTINCT FROM (was_points, was_exact);
