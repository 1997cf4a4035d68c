-- A template, composed by stats/selectors.py for each grain: `totals` the per-player totals,
-- `ranks` the board's rank view, `users` the users' table, `board` the board's key matched
-- against parameters (each condition followed by AND; none overall), for t and r alike,
-- `previous_rank` each row's rank before the board's latest round, with what it reads
-- (`previous_rank_joins`: previous_rank.sql and previous_rank_joins.sql for p; NULL and nothing
-- on a board without movement).
-- One page of a board in one statement, so the counts and the totals are one snapshot. The page
-- starts in the (points, exact) group holding its first position (%(first)s): its first player
-- is found by an offset inside that group only, from its nearer end, on the index alone (no row
-- is fetched for the players skipped), then that group is read from that player on and the
-- groups below it in index order. rank = 1 + the players above the row's group. One row: the
-- board's size, the latest refresh of the relations `stamped` names (the state this snapshot
-- shows: an answer's validators), and the page's entries as a JSON array in the API's shape and
-- order (json, not jsonb: json keeps the keys in the order built), which the API writes out as
-- it is: parsing the rows' stamps and encoding the rows again alone took 12 % of the web
-- worker's time on a board request (bench/README.md, "Reads over HTTP", third round).
WITH groups AS MATERIALIZED (
    SELECT total_points, exact_scores, players, players_above FROM {ranks} AS r WHERE {rank_board} TRUE
), first_group AS MATERIALIZED (
    -- The group's players before the page's first, and after it.
    SELECT total_points, exact_scores, %(first)s - 1 - players_above AS skipped,
           players_above + players - %(first)s AS after
    FROM groups
    WHERE players_above < %(first)s AND players_above + players >= %(first)s
), first_player AS MATERIALIZED (
    -- From whichever end of the group is nearer: the skip costs at most half the group.
    (SELECT t.user_id
     FROM {totals} AS t
     WHERE {board} t.total_points = (SELECT total_points FROM first_group)
       AND t.exact_scores = (SELECT exact_scores FROM first_group)
       AND (SELECT skipped <= after FROM first_group)
     ORDER BY t.user_id
     OFFSET (SELECT skipped FROM first_group)
     LIMIT 1)
    UNION ALL
    (SELECT t.user_id
     FROM {totals} AS t
     WHERE {board} t.total_points = (SELECT total_points FROM first_group)
       AND t.exact_scores = (SELECT exact_scores FROM first_group)
       AND (SELECT skipped > after FROM first_group)
     ORDER BY t.user_id DESC
     OFFSET (SELECT after FROM first_group)
     LIMIT 1)
), page AS (
    (SELECT t.user_id, t.total_points, t.predictions_scored, t.exact_scores, t.correct_outcomes
     FROM {totals} AS t
     WHERE {board} t.total_points = (SELECT total_points FROM first_group)
       AND t.exact_scores = (SELECT exact_scores FROM first_group)
       AND t.user_id >= (SELECT user_id FROM first_player)
     ORDER BY t.user_id
     LIMIT %(size)s)
    UNION ALL
    (SELECT t.user_id, t.total_points, t.predictions_scored, t.exact_scores, t.correct_outcomes
     FROM {totals} AS t
     WHERE {board} (t.total_points, t.exact_scores) < (SELECT total_points, exact_scores FROM first_group)
     ORDER BY t.total_points DESC, t.exact_scores DESC, t.user_id
     LIMIT %(size)s)
)
SELECT (SELECT coalesce(sum(players), 0) FROM groups)::integer AS total_entries,
       (SELECT max(refreshed_at) FROM stats_viewrefresh WHERE view_name = ANY({stamped}))
           AS latest_refresh,
       coalesce(json_agg(json_build_object(
           'rank', g.players_above + 1,
           'user_id', p.user_id,
           'username', u.username,
           'total_points', p.total_points,
           'predictions_scored', p.predictions_scored,
           'exact_scores', p.exact_scores,
           'correct_outcomes', p.correct_outcomes,
           'previous_rank', {previous_rank})
         ORDER BY p.total_points DESC, p.exact_scores DESC, p.user_id), '[]')::text AS entries
FROM (SELECT * FROM page ORDER BY total_points DESC, exact_scores DESC, user_id LIMIT %(size)s) AS p
JOIN groups AS g ON g.total_points = p.total_points AND g.exact_scores = p.exact_scores
JOIN {users} AS u ON u.id = p.user_id
{previous_rank_joins}
