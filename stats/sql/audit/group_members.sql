-- The members of every group kept by counts (stats_playergroup.counts_kept) with their totals
-- on each board, from scratch (the totals before them: player_totals.sql's, or the previous
-- totals of previous_totals.sql), per grain (the relation's key before user_id).
SELECT ms.group_id, {board}t.user_id, t.total_points, t.exact_scores
FROM ({totals}) AS t
JOIN stats_groupmembership AS ms ON ms.user_id = t.user_id
JOIN stats_playergroup AS g ON g.id = ms.group_id
WHERE g.counts_kept
