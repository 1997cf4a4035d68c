-- How many members of each group kept by counts stand at each (total_points, exact_scores) on
-- each board, from scratch: the members' totals (group_members.sql) counted per group.
SELECT group_id, {board}total_points, exact_scores, count(*)::integer AS players
FROM ({totals}) AS totals
GROUP BY group_id, {board}total_points, exact_scores
