-- Temp tables: reads stats_moved; creates stats_group_moved.
-- Composed before group_members.sql and group_counts.sql, after a grain's totals moved
-- (stats_moved of totals.sql) or its previous counts (stats_moved of previous_moved.sql): each
-- moved player once per group kept by counts they are in (stats_playergroup.counts_kept), found
-- by the memberships' user index: the cost is the moved players times their kept groups.
DROP TABLE IF EXISTS pg_temp.stats_group_moved;
CREATE TEMP TABLE stats_group_moved ON COMMIT DROP AS
SELECT ms.group_id, m.*
FROM stats_moved AS m
JOIN stats_groupmembership AS ms ON ms.user_id = m.user_id
JOIN stats_playergroup AS g ON g.id = ms.group_id
WHERE g.counts_kept;
