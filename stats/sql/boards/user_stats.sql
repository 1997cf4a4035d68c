-- A template, composed by stats/selectors.py (user_stats): `users` the users' table, and for each
-- grain its totals and rank view (`overall_totals`, `overall_ranks`, `competition_totals`, ...),
-- `overall_previous_rank` and `competition_previous_rank` the row t's previous_rank, with what
-- each reads (`overall_previous_rank_joins`, ...: boards/previous_rank.sql, and _joins.sql).
-- One player's stats in one statement (one round trip, one snapshot): the account, their totals
-- and rank overall, in each competition and in each round they have a scored prediction in, the
-- lists as JSON in the API's order (json, not jsonb: json keeps the keys in the order built).
-- No row unless the account is a league player: active, with at least one prediction. With the
-- row, the latest refresh of the relations `stamped` names (as for a page: see page.sql).
-- The competition and round boards are indexed by (competition, [round,] user), not by user, so
-- the (competition, round) pairs are first found from the player's own scored predictions (their
-- unique (user, match) index), then each board row is an index lookup. A rank is 1 + the players
-- above the row's group (null while its rank view has not caught up with the totals).
WITH played AS MATERIALIZED (
    SELECT DISTINCT m.competition_id, m.round
    FROM stats_prediction AS p
    JOIN stats_match AS m ON m.id = p.match_id
    WHERE p.user_id = %(user_id)s AND p.points IS NOT NULL
)
SELECT u.id AS user_id, u.username,
    (SELECT max(refreshed_at) FROM stats_viewrefresh WHERE view_name = ANY({stamped}))
        AS latest_refresh,
    (SELECT json_build_object(
                'rank', r.players_above + 1,
                'previous_rank', {overall_previous_rank},
                'total_points', t.total_points,
                'predictions_scored', t.predictions_scored,
                'exact_scores', t.exact_scores,
                'correct_outcomes', t.correct_outcomes)
     FROM {overall_totals} AS t
     LEFT JOIN {overall_ranks} AS r
            ON r.total_points = t.total_points AND r.exact_scores = t.exact_scores
     {overall_previous_rank_joins}
     WHERE t.user_id = u.id) AS overall,
    (SELECT coalesce(json_agg(json_build_object(
                'rank', (SELECT r.players_above + 1 FROM {competition_ranks} AS r
                         WHERE r.competition_id = t.competition_id
                           AND r.total_points = t.total_points AND r.exact_scores = t.exact_scores),
                'previous_rank', {competition_previous_rank},
                'total_points', t.total_points,
                'predictions_scored', t.predictions_scored,
                'exact_scores', t.exact_scores,
                'correct_outcomes', t.correct_outcomes,
                'competition_slug', c.slug,
                'competition_name', c.name) ORDER BY c.name, c.id), '[]'::json)
     FROM (SELECT DISTINCT competition_id FROM played) AS pc
     JOIN {competition_totals} AS t
       ON t.competition_id = pc.competition_id AND t.user_id = u.id
     JOIN stats_competition AS c ON c.id = t.competition_id
     {competition_previous_rank_joins}
    ) AS competitions,
    (SELECT coalesce(json_agg(json_build_object(
                'round', t.round,
                'rank', (SELECT r.players_above + 1 FROM {round_ranks} AS r
                         WHERE r.competition_id = t.competition_id AND r.round = t.round
                           AND r.total_points = t.total_points AND r.exact_scores = t.exact_scores),
                'total_points', t.total_points,
                'predictions_scored', t.predictions_scored,
                'exact_scores', t.exact_scores,
                'correct_outcomes', t.correct_outcomes,
                'competition_slug', c.slug) ORDER BY c.name, c.id, t.round), '[]'::json)
     FROM played AS pr
     JOIN {round_totals} AS t
       ON t.competition_id = pr.competition_id AND t.round = pr.round AND t.user_id = u.id
     JOIN stats_competition AS c ON c.id = t.competition_id
    ) AS rounds
FROM {users} AS u
WHERE u.id = %(user_id)s AND u.is_active
  AND EXISTS (SELECT FROM stats_prediction AS p WHERE p.user_id = u.id)
