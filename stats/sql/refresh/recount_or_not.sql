-- Temp tables: reads none; creates none.
-- Whether the changes this snapshot sees are better recounted than moved one by one: the rows a
-- refresh by difference would read (each logged prediction, and the predictions of each match
-- whose completed state changed, read twice: out of the old state, into the new) against a
-- share of the league's predictions, and at least a floor. The league's sizes are the planner's
-- estimates (pg_class.reltuples), so deciding costs no scan of the league; the prediction log is
-- counted only up to what the limit leaves, so deciding costs no more than the limit's rows.
-- Answers: recount or not, the rows estimated (up to the limit + 1), the limit.
WITH league AS (
    SELECT greatest(predictions.reltuples, 0) AS predictions,
           greatest(predictions.reltuples, 0) / greatest(matches.reltuples, 1) AS per_match
    FROM pg_class AS predictions, pg_class AS matches
    WHERE predictions.oid = 'stats_prediction'::regclass AND matches.oid = 'stats_match'::regclass
), recount_limit AS (
    SELECT greatest(%(minimum_rows)s, %(league_share)s * predictions)::bigint AS rows, per_match
    FROM league
), changed_matches AS (
    SELECT (2 * (SELECT per_match FROM recount_limit) * count(DISTINCT c.match_id))::bigint AS rows
    FROM stats_match_change AS c LEFT JOIN stats_match AS m ON m.id = c.match_id
    WHERE c.status = 'completed' OR m.status = 'completed'
), estimate AS (
    -- The log of predictions is counted only when the matches leave room under the limit.
    SELECT CASE WHEN changed_matches.rows > recount_limit.rows THEN changed_matches.rows
                ELSE changed_matches.rows + (
                    SELECT count(*) FROM (
                        SELECT FROM stats_prediction_change
                        LIMIT (SELECT l.rows - m.rows + 1 FROM recount_limit AS l, changed_matches AS m)
                    ) AS logged
                ) END AS rows
    FROM changed_matches, recount_limit
)
SELECT estimate.rows > recount_limit.rows, estimate.rows, recount_limit.rows
FROM estimate, recount_limit
