-- A template, composed by stats/selectors.py for each grain (see page.sql for the names): one
-- player's row on a board, its rank looked up in the board's rank view, its previous rank in the
-- previous rank view (`previous_rank` and `previous_rank_joins`, for t).
SELECT r.players_above + 1 AS rank, t.user_id, u.username,
       t.total_points, t.predictions_scored, t.exact_scores, t.correct_outcomes,
       {previous_rank} AS previous_rank
FROM {totals} AS t
JOIN {ranks} AS r ON {rank_board} r.total_points = t.total_points AND r.exact_scores = t.exact_scores
JOIN {users} AS u ON u.id = t.user_id
{previous_rank_joins}
WHERE {board} t.user_id = %(user_id)s
