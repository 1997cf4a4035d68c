-- Temp tables: reads stats_group_moved; creates none.
-- A template, composed by stats/refresh.py for each grain with group counts (competition,
-- overall): `members` the kept groups' member rows, `board` the board's key columns (each
-- followed by a comma; none overall), `board_joined` the board's key matched between c (the
-- rows) and m (the moved players), each condition followed by AND. A member whose totals moved stands at their new totals; one
-- who left the board (nothing scored any more) leaves the rows.
DELETE FROM {members} AS c USING stats_group_moved AS m
WHERE c.group_id = m.group_id AND {board_joined} c.user_id = m.user_id AND NOT m.is_there;
INSERT INTO {members} AS r (group_id, {board} user_id, total_points, exact_scores)
SELECT group_id, {board} user_id, now_points, now_exact
FROM stats_group_moved WHERE is_there
ORDER BY group_id, {board} user_id
ON CONFLICT (group_id, {board} user_id) DO UPDATE
SET total_points = excluded.total_points, exact_scores = excluded.exact_scores
WHERE (r.total_points, r.exact_scores) IS DISTINCT FROM (excluded.total_points, excluded.exact_scores);
SELECT true
