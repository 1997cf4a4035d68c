-- A template, composed by stats/groups.py for a group kept by counts (a large one) on a grain
-- with group counts: `members`, `counts`, `previous_counts` the grain's group relations,
-- `totals` its per-player totals, `board` the board's key matched against parameters for any
-- alias `x` (each condition followed by AND; none overall), `latest_board` the same for
-- stats_latest_round's alias l, `previous_rank` and `previous_rank_joins` the row t's
-- previous_rank (previous_rank.sql and previous_rank_joins.sql, on the group's previous counts
-- ranked here: `previous`). As page.sql reads the league's board, from the group's own
-- counts and its members' index in board order: the page starts in the (points, exact) group
-- holding its first position, found by an offset inside that group from its nearer end, on the
-- index alone; rank = 1 + the members above the row's group; previous_rank as on the league's
-- boards, from the group's previous counts (a few hundred groups). Every row carries the
-- board's size; an empty page is one row with that size and nothing else.
WITH groups AS MATERIALIZED (
    SELECT total_points, exact_scores, players,
           (coalesce(sum(players) OVER (
               ORDER BY total_points DESC, exact_scores DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ), 0))::integer AS players_above
    FROM {counts} AS x WHERE x.group_id = %(group)s AND {board} TRUE
), previous AS MATERIALIZED (
    SELECT total_points, exact_scores, players,
           (coalesce(sum(players) OVER (
               ORDER BY total_points DESC, exact_scores DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ), 0))::integer AS players_above
    FROM {previous_counts} AS x WHERE x.group_id = %(group)s AND {board} TRUE
), first_group AS MATERIALIZED (
    -- The group's members before the page's first, and after it.
    SELECT total_points, exact_scores, %(first)s - 1 - players_above AS skipped,
           players_above + players - %(first)s AS after
    FROM groups
    WHERE players_above < %(first)s AND players_above + players >= %(first)s
), first_player AS MATERIALIZED (
    -- From whichever end of the group is nearer, as page.sql.
    (SELECT x.user_id
     FROM {members} AS x
     WHERE x.group_id = %(group)s AND {board} x.total_points = (SELECT total_points FROM first_group)
       AND x.exact_scores = (SELECT exact_scores FROM first_group)
       AND (SELECT skipped <= after FROM first_group)
     ORDER BY x.user_id
     OFFSET (SELECT skipped FROM first_group)
     LIMIT 1)
    UNION ALL
    (SELECT x.user_id
     FROM {members} AS x
     WHERE x.group_id = %(group)s AND {board} x.total_points = (SELECT total_points FROM first_group)
       AND x.exact_scores = (SELECT exact_scores FROM first_group)
       AND (SELECT skipped > after FROM first_group)
     ORDER BY x.user_id DESC
     OFFSET (SELECT after FROM first_group)
     LIMIT 1)
), page AS (
    (SELECT x.user_id, x.total_points, x.exact_scores
     FROM {members} AS x
     WHERE x.group_id = %(group)s AND {board} x.total_points = (SELECT total_points FROM first_group)
       AND x.exact_scores = (SELECT exact_scores FROM first_group)
       AND x.user_id >= (SELECT user_id FROM first_player)
     ORDER BY x.user_id
     LIMIT %(size)s)
    UNION ALL
    (SELECT x.user_id, x.total_points, x.exact_scores
     FROM {members} AS x
     WHERE x.group_id = %(group)s AND {board}
           (x.total_points, x.exact_scores) < (SELECT total_points, exact_scores FROM first_group)
     ORDER BY x.total_points DESC, x.exact_scores DESC, x.user_id
     LIMIT %(size)s)
)
SELECT (SELECT coalesce(sum(players), 0) FROM groups)::integer AS total_entries,
       g.players_above + 1 AS rank, p.user_id, u.username,
       p.total_points, t.predictions_scored, p.exact_scores, t.correct_outcomes,
       {previous_rank} AS previous_rank
FROM (SELECT) AS board
LEFT JOIN (
    page AS p
    JOIN groups AS g ON g.total_points = p.total_points AND g.exact_scores = p.exact_scores
    JOIN {totals} AS t ON {board_t} t.user_id = p.user_id
    JOIN {users} AS u ON u.id = p.user_id
    {previous_rank_joins}
) ON TRUE
ORDER BY p.total_points DESC, p.exact_scores DESC, p.user_id
LIMIT %(size)s
