-- Every player's totals before the latest round that counted on their board, from scratch, per
-- grain (the relation's key before user_id, filled in by stats/audit.py): their totals
-- (player_totals.sql's) less their predictions of that round. A competition's latest round is
-- its highest round with a scored prediction of a completed match; the overall board's is the
-- one of those whose latest result (completed_at, then the highest id) came last. Every player on the board has a row but those at (0, 0) (nothing before it, or no
-- points nor exact score), a group the previous counts leave out: nobody there stands above
-- anyone.
WITH scored AS (
    SELECT m.competition_id, m.round, p.user_id, p.points,
           (p.home_score = m.home_score AND p.away_score = m.away_score) AS exact
    FROM stats_prediction AS p JOIN stats_match AS m ON m.id = p.match_id
    WHERE p.points IS NOT NULL AND m.status = 'completed'
), competition_latest AS (
    SELECT DISTINCT ON (m.competition_id) m.competition_id, m.round, m.completed_at, m.id
    FROM stats_match AS m
    JOIN (SELECT DISTINCT competition_id, round FROM scored) AS counted USING (competition_id, round)
    WHERE m.status = 'completed'
    ORDER BY m.competition_id, m.round DESC, m.completed_at DESC, m.id DESC
), latest AS (
    SELECT DISTINCT {board}
           first_value(m.competition_id) OVER board AS latest_competition_id,
           first_value(m.round) OVER board AS latest_round
    FROM competition_latest AS m
    WINDOW board AS ({partition}ORDER BY m.completed_at DESC, m.id DESC)
)
-- A NATURAL JOIN: on the board's key (competition_id) for a competition's board, none (every
-- player against the one latest round) for the overall board.
SELECT {board}user_id,
       coalesce(sum(points) FILTER (WHERE NOT in_latest), 0)::integer AS total_points,
       count(*) FILTER (WHERE NOT in_latest AND exact)::integer AS exact_scores
FROM (
    SELECT scored.*,
           (competition_id, round) = (latest_competition_id, latest_round) AS in_latest
    FROM scored NATURAL JOIN latest
) AS m
GROUP BY {board}user_id
HAVING (coalesce(sum(points) FILTER (WHERE NOT in_latest), 0), count(*) FILTER (WHERE NOT in_latest AND exact))
       <> (0, 0)
