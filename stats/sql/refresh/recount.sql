-- Temp tables: reads none; creates none.
-- A template, composed by stats/refresh.py for each grain (see totals.sql for the names).
-- A rebuild: every count recounted from the totals, writing only the groups that differ.
DELETE FROM {counts} AS c
WHERE NOT EXISTS (
    SELECT FROM {totals} AS t
    WHERE {board_matched} t.total_points = c.total_points AND t.exact_scores = c.exact_scores
);
INSERT INTO {counts} AS c ({board} total_points, exact_scores, players)
SELECT {board} total_points, exact_scores, count(*)::integer
FROM {totals}
GROUP BY {board} total_points, exact_scores
ORDER BY {board} total_points, exact_scores
ON CONFLICT ({board} total_points, exact_scores) DO UPDATE SET players = excluded.players
WHERE c.players <> excluded.players;
SELECT true
