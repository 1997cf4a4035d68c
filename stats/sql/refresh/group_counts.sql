-- Temp tables: reads stats_group_moved; creates none.
-- A template, composed by stats/refresh.py for each grain with group counts (competition,
-- overall) and for its current and previous counts: `counts` the kept groups' counts, `board`
-- and `board_joined` as group_members.sql's (c the counts, m the moved players). As counts.sql
-- does for the league, per group: a moved member leaves their old group (-1) and joins their
-- new one (+1); a group left empty is deleted.
INSERT INTO {counts} AS c (group_id, {board} total_points, exact_scores, players)
SELECT group_id, {board} total_points, exact_scores, sum(players)::integer
FROM (
    SELECT group_id, {board} was_points AS total_points, was_exact AS exact_scores, -1 AS players
    FROM stats_group_moved WHERE was_there
    UNION ALL
    SELECT group_id, {board} now_points, now_exact, 1 FROM stats_group_moved WHERE is_there
) AS moved
GROUP BY group_id, {board} total_points, exact_scores
HAVING sum(players) <> 0
ORDER BY group_id, {board} total_points, exact_scores
ON CONFLICT (group_id, {board} total_points, exact_scores)
DO UPDATE SET players = c.players + excluded.players;
DELETE FROM {counts} AS c USING (
    SELECT DISTINCT group_id, {board} was_points, was_exact FROM stats_group_moved WHERE was_there
) AS m
WHERE c.group_id = m.group_id AND {board_joined} c.total_points = m.was_points
  AND c.exact_scores = m.was_exact AND c.players <= 0;
SELECT true
