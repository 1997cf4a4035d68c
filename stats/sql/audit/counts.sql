-- How many players stand at each (total_points, exact_scores) on each board, from scratch: the
-- players' totals (player_totals.sql) counted per group of each board.
SELECT {board}total_points, exact_scores, count(*)::integer AS players
FROM ({totals}) AS totals
GROUP BY {board}total_points, exact_scores
