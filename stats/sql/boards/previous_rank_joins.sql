-- A template, composed by stats/selectors.py for a grain with movement: what previous_rank.sql
-- reads for the totals row `row`, as joins after the row's own (LEFT: a row without them keeps
-- its place), on the board `latest_board` and `previous_board` pick (each condition followed by
-- AND; none overall): the board's latest round (`latest`: its competition's row of
-- stats_latest_round, or the latest of them all overall), the row's totals in that round
-- (`latest_row`), and the group of the previous rank view that holds its totals less those
-- (`previous`). Joins, not a subquery per row: on a page of 50, the planner's per-row subqueries
-- were half the statement's time.
LEFT JOIN LATERAL (
    SELECT l.competition_id, l.round FROM stats_latest_round AS l
    WHERE {latest_board} TRUE
    ORDER BY l.completed_at DESC, l.match_id DESC
    LIMIT 1
) AS latest ON TRUE
LEFT JOIN {round_totals} AS latest_row
  ON latest_row.competition_id = latest.competition_id AND latest_row.round = latest.round
 AND latest_row.user_id = {row}.user_id
LEFT JOIN {previous_ranks} AS previous
  ON {previous_board} previous.total_points = {row}.total_points - coalesce(latest_row.total_points, 0)
 AND previous.exact_scores = {row}.exact_scores - coalesce(latest_row.exact_scores, 0)
