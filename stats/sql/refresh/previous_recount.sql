-- Temp tables: reads stats_latest_now; creates stats_previous_total.
-- A template, composed by stats/refresh.py for each grain with movement (see previous_moved.sql
-- for the names). A rebuild: every player's previous totals on each board (their totals less
-- their row of the board's latest round, from stats_latest_now) into stats_previous_total (temporary), which
-- recount.sql, composed for the previous counts, counts; the (0, 0) group is left out (see
-- previous_moved.sql).
DROP TABLE IF EXISTS pg_temp.stats_previous_total;
CREATE TEMP TABLE stats_previous_total ON COMMIT DROP AS
WITH now_latest AS MATERIALIZED ({now_latest})
SELECT {board_t} t.user_id,
       t.total_points - coalesce(rn.total_points, 0) AS total_points,
       t.exact_scores - coalesce(rn.exact_scores, 0) AS exact_scores
FROM {totals} AS t
LEFT JOIN now_latest AS nl ON {board_nl_t} TRUE
LEFT JOIN stats_round_total AS rn
  ON rn.competition_id = nl.latest_competition_id AND rn.round = nl.latest_round AND rn.user_id = t.user_id
WHERE (t.total_points - coalesce(rn.total_points, 0), t.exact_scores - coalesce(rn.exact_scores, 0))
      <> (0, 0);
