-- A template, composed by stats/selectors.py for a grain with movement, as an expression: the
-- previous_rank of the totals row `row` (an alias with user_id, total_points, exact_scores,
-- predictions_scored), from what previous_rank_joins.sql joined to it (`latest`, `latest_row`,
-- `previous`), `lowest_board` picking the board's rows of the previous rank view (each
-- condition followed by AND; none overall). The row's previous totals are its totals less its
-- row of the board's latest round. The previous counts leave out the (0, 0) group
-- (refresh/previous_moved.sql): a player there is ranked below the lowest group kept. NULL when
-- the player had nothing scored before that round (or there is none).
CASE
    WHEN latest.round IS NULL
      OR {row}.predictions_scored <= coalesce(latest_row.predictions_scored, 0) THEN NULL
    WHEN ({row}.total_points - coalesce(latest_row.total_points, 0),
          {row}.exact_scores - coalesce(latest_row.exact_scores, 0)) = (0, 0) THEN coalesce(
        (SELECT lowest.players_above + lowest.players + 1
         FROM {previous_ranks} AS lowest
         WHERE {lowest_board} TRUE
         ORDER BY lowest.total_points, lowest.exact_scores
         LIMIT 1),
        1)
    ELSE previous.players_above + 1
END
