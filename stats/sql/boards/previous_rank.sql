-- A template, composed by stats/selectors.py for a grain with movement, as an expression: the
-- previous_rank of the totals row `row` (an alias with user_id, total_points, exact_scores,
-- predictions_scored), on the board `latest_board` and `previous_board` pick (each condition
-- followed by AND; none overall). The board's latest round is its competition's row of
-- stats_latest_round, or the latest of them all overall; the row's previous totals are its
-- totals less its row of that round, looked up in the previous rank view: one lookup each. The
-- previous counts leave out the (0, 0) group (refresh/previous_moved.sql): a player there is
-- ranked below the lowest group kept. NULL when the player had nothing scored before that round
-- (or there is none).
(SELECT CASE
     WHEN NOT before.had_some THEN NULL
     WHEN (before.points, before.exact) = (0, 0) THEN coalesce(
         (SELECT lowest.players_above + lowest.players + 1
          FROM {previous_ranks} AS lowest
          WHERE {lowest_board} TRUE
          ORDER BY lowest.total_points, lowest.exact_scores
          LIMIT 1),
         1)
     ELSE (SELECT previous.players_above + 1
           FROM {previous_ranks} AS previous
           WHERE {previous_board} previous.total_points = before.points
             AND previous.exact_scores = before.exact)
 END
 FROM (SELECT {row}.total_points - coalesce(latest_row.total_points, 0) AS points,
              {row}.exact_scores - coalesce(latest_row.exact_scores, 0) AS exact,
              {row}.predictions_scored > coalesce(latest_row.predictions_scored, 0) AS had_some
       FROM (SELECT l.competition_id, l.round FROM stats_latest_round AS l
             WHERE {latest_board} TRUE
             ORDER BY l.completed_at DESC, l.match_id DESC LIMIT 1) AS latest
       LEFT JOIN {round_totals} AS latest_row
         ON latest_row.competition_id = latest.competition_id AND latest_row.round = latest.round
        AND latest_row.user_id = {row}.user_id) AS before)
