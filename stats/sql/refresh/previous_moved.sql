-- Temp tables: reads stats_round_difference, stats_latest_was, stats_latest_now; creates stats_moved.
-- A template, composed by stats/refresh.py for each grain with movement (competition, overall):
-- `totals` the grain's totals, `board` its key columns (each followed by a comma; none
-- overall), `board_<alias>` the same columns of one alias, `board_<a>_or_<b>` them taken from
-- whichever of the two aliases has the board, `board_<a>_<b>` the board's key matched between
-- two aliases (each condition followed by AND), `was_latest` and `now_latest` each board's
-- latest round ({board} latest_competition_id, latest_round) before and after this refresh
-- (from stats_latest_was and stats_latest_now, latest_rounds.sql), `now_totals` the moved
-- players' totals as the grain's step left them (stats_<grain>_now, kept by totals.sql).
-- A player's previous totals on a board are their totals less their row of the board's latest
-- round. The counts leave out the (0, 0) group, the lowest (points and exact scores are never
-- negative): nobody there stands above anyone, so its size ranks no one, and a player off the
-- board stands there too (previous_rank.sql answers its rank from the group above it). Hands on
-- stats_moved (temporary, as totals.sql does), read by counts.sql composed for the previous
-- counts: each player whose previous totals moved, with the group they stood in (was_there:
-- not (0, 0)) and the one they stand in now.
-- With T a player's totals, R_W and R_N their rows of the board's latest round before (W) and
-- after (N) this refresh, and D, D_W, D_N this refresh's difference on the board and in those
-- rounds: previous now = T - R_N; previous before = (T - D) - (R_W - D_W). Who may have moved:
-- on a board whose latest round stayed (W = N), a player with D <> D_N (a result in the latest
-- round moves totals and round together: nobody, found from the difference alone), their T and
-- R_N each one probe of an index (LATERAL ... LIMIT 1: costed by the planner, a hash of the
-- whole round totals, which grow with the season, looks cheaper), except that T comes from
-- `now_totals` wherever the player is there (the totals the grain's step just moved: T is probed
-- only for a player whose changes on the board summed to nothing); on a board whose latest round
-- changed (the first result of a round, a void emptying the latest one, the overall board moving
-- to another competition's), every player of the board, joined to their rows of W and N read
-- through the round totals' key.
DROP TABLE IF EXISTS pg_temp.stats_moved;
CREATE TEMP TABLE stats_moved ON COMMIT DROP AS
WITH latest AS MATERIALIZED (
    SELECT {board_w_or_n}
           w.latest_competition_id AS was_competition_id, w.latest_round AS was_round,
           n.latest_competition_id AS now_competition_id, n.latest_round AS now_round,
           (w.latest_competition_id, w.latest_round)
               IS DISTINCT FROM (n.latest_competition_id, n.latest_round) AS relatest
    FROM ({was_latest}) AS w FULL JOIN ({now_latest}) AS n ON {board_n_w} TRUE
), difference AS MATERIALIZED (
    SELECT {board_d} d.user_id,
           sum(d.total_points) AS total_points, sum(d.exact_scores) AS exact_scores,
           coalesce(sum(d.total_points) FILTER (WHERE d.competition_id = b.was_competition_id AND d.round = b.was_round), 0) AS was_round_points,
           coalesce(sum(d.exact_scores) FILTER (WHERE d.competition_id = b.was_competition_id AND d.round = b.was_round), 0) AS was_round_exact,
           coalesce(sum(d.total_points) FILTER (WHERE d.competition_id = b.now_competition_id AND d.round = b.now_round), 0) AS now_round_points,
           coalesce(sum(d.exact_scores) FILTER (WHERE d.competition_id = b.now_competition_id AND d.round = b.now_round), 0) AS now_round_exact,
           coalesce(bool_or(b.relatest), false) AS relatest
    FROM stats_round_difference AS d LEFT JOIN latest AS b ON {board_b_d} TRUE
    GROUP BY {board_d} d.user_id
), stayed AS (
    SELECT {board_d} d.user_id,
           coalesce(nt.now_points, t.total_points, 0) - d.total_points
               - (coalesce(rn.total_points, 0) - d.now_round_points) AS was_points,
           coalesce(nt.now_exact, t.exact_scores, 0) - d.exact_scores
               - (coalesce(rn.exact_scores, 0) - d.now_round_exact) AS was_exact,
           coalesce(nt.now_points, t.total_points, 0) - coalesce(rn.total_points, 0) AS now_points,
           coalesce(nt.now_exact, t.exact_scores, 0) - coalesce(rn.exact_scores, 0) AS now_exact
    FROM difference AS d
    LEFT JOIN latest AS b ON {board_b_d} TRUE
    LEFT JOIN {now_totals} AS nt ON {board_nt_d} nt.user_id = d.user_id
    LEFT JOIN LATERAL (
        -- Only for a player the grain's difference left out (their changes on the board
        -- summed to nothing): the others' totals came from totals.sql.
        SELECT total_points, exact_scores FROM {totals} AS t
        WHERE nt.user_id IS NULL AND {board_t_d} t.user_id = d.user_id LIMIT 1
    ) AS t ON TRUE
    LEFT JOIN LATERAL (
        SELECT total_points, exact_scores FROM stats_round_total AS r
        WHERE r.competition_id = b.now_competition_id AND r.round = b.now_round
          AND r.user_id = d.user_id LIMIT 1
    ) AS rn ON TRUE
    WHERE NOT d.relatest AND (d.total_points, d.exact_scores) <> (d.now_round_points, d.now_round_exact)
), was_round AS MATERIALIZED (
    SELECT {board_b} r.user_id, r.total_points, r.exact_scores
    FROM latest AS b JOIN stats_round_total AS r
      ON b.relatest AND r.competition_id = b.was_competition_id AND r.round = b.was_round
), now_round AS MATERIALIZED (
    SELECT {board_b} r.user_id, r.total_points, r.exact_scores
    FROM latest AS b JOIN stats_round_total AS r
      ON b.relatest AND r.competition_id = b.now_competition_id AND r.round = b.now_round
), relatest_player AS (
    -- Every player of the board, and of the difference (one the board no longer has, too).
    SELECT {board_t_or_d} coalesce(t.user_id, d.user_id) AS user_id,
           coalesce(t.total_points, 0) AS total_points, coalesce(t.exact_scores, 0) AS exact_scores,
           coalesce(d.total_points, 0) AS moved_points, coalesce(d.exact_scores, 0) AS moved_exact,
           coalesce(d.was_round_points, 0) AS was_round_moved_points,
           coalesce(d.was_round_exact, 0) AS was_round_moved_exact
    FROM (
        SELECT {board_b} t.user_id, t.total_points, t.exact_scores
        FROM latest AS b JOIN {totals} AS t ON {board_b_t} b.relatest
    ) AS t
    FULL JOIN (SELECT * FROM difference WHERE relatest) AS d ON {board_t_d} t.user_id = d.user_id
), relatest AS (
    SELECT {board_p} p.user_id,
           p.total_points - p.moved_points
               - (coalesce(rw.total_points, 0) - p.was_round_moved_points) AS was_points,
           p.exact_scores - p.moved_exact
               - (coalesce(rw.exact_scores, 0) - p.was_round_moved_exact) AS was_exact,
           p.total_points - coalesce(rn.total_points, 0) AS now_points,
           p.exact_scores - coalesce(rn.exact_scores, 0) AS now_exact
    FROM relatest_player AS p
    LEFT JOIN was_round AS rw ON {board_rw_p} rw.user_id = p.user_id
    LEFT JOIN now_round AS rn ON {board_rn_p} rn.user_id = p.user_id
)
SELECT *, (was_points, was_exact) <> (0, 0) AS was_there, (now_points, now_exact) <> (0, 0) AS is_there
FROM (SELECT * FROM stayed UNION ALL SELECT * FROM relatest) AS standing
WHERE (now_points, now_exact) IS DISTINCT FROM (was_points, was_exact);
