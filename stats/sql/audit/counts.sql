-- A template, composed by stats/audit.py for each grain: how many players stand at each
-- (total_points, exact_scores) on each board, from `totals_definition` (the grain's totals from
-- scratch); `board` is the board's key columns, each followed by a comma (none overall).
SELECT {board} total_points, exact_scores, count(*)::integer AS players
FROM ({totals_definition}) AS totals
GROUP BY {board} total_points, exact_scores
