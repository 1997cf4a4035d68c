-- Temp tables: reads stats_moved; creates none.
-- A template, composed by stats/refresh.py for each grain (see totals.sql for the names).
-- Reads stats_moved (totals.sql): a player whose totals moved leaves their old group (-1) and
-- joins their new one (+1); a group left empty is deleted. Answers whether any count moved (the
-- grain's rank view is refreshed only then).
INSERT INTO {counts} AS c ({board} total_points, exact_scores, players)
SELECT {board} total_points, exact_scores, sum(players)::integer
FROM (
    SELECT {board} was_points AS total_points, was_exact AS exact_scores, -1 AS players
    FROM stats_moved WHERE was_there
    UNION ALL
    SELECT {board} now_points, now_exact, 1 FROM stats_moved WHERE is_there
) AS moved
GROUP BY {board} total_points, exact_scores
HAVING sum(players) <> 0
ORDER BY {board} total_points, exact_scores
ON CONFLICT ({board} total_points, exact_scores) DO UPDATE SET players = c.players + excluded.players;
DELETE FROM {counts} AS c
USING (SELECT DISTINCT {board} was_points, was_exact FROM stats_moved WHERE was_there) AS left_group
WHERE {board_joined} c.total_points = left_group.was_points AND c.exact_scores = left_group.was_exact
  AND c.players <= 0;
SELECT EXISTS (
    SELECT FROM stats_moved
    WHERE was_there IS DISTINCT FROM is_there
       OR (is_there AND (now_points, now_exact) IS DISTINCT FROM (was_points, was_exact))
)
