-- A player's prediction for a match, made or changed in one statement (stats/players.py,
-- prediction_put): inserted, or its scores changed when they differ (an unchanged prediction is
-- not written: its updated_at stays). The row comes back either way, with `created`: a row
-- inserted by this statement has no xmax. (An unchanged row committed by a concurrent request
-- after this statement's snapshot comes back from neither branch: the caller asks again.) The kickoff trigger still decides a race with the
-- kickoff; the change log's statement triggers see the insert or the update as usual.
WITH written AS (
    INSERT INTO stats_prediction AS p
        (user_id, match_id, home_score, away_score, points, created_at, updated_at)
    VALUES (%(user_id)s, %(match_id)s, %(home_score)s, %(away_score)s, NULL, now(), now())
    ON CONFLICT (user_id, match_id) DO UPDATE
        SET home_score = excluded.home_score,
            away_score = excluded.away_score,
            updated_at = excluded.updated_at
        WHERE (p.home_score, p.away_score) IS DISTINCT FROM (excluded.home_score, excluded.away_score)
    RETURNING p.id, p.user_id, p.match_id, p.home_score, p.away_score, p.points,
              p.created_at, p.updated_at, p.xmax = 0 AS created
)
SELECT * FROM written
UNION ALL
SELECT id, user_id, match_id, home_score, away_score, points, created_at, updated_at, false
FROM stats_prediction
WHERE user_id = %(user_id)s AND match_id = %(match_id)s AND NOT EXISTS (SELECT FROM written)
