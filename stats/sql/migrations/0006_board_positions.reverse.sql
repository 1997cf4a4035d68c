-- Back to the boards of 0003_stats_views.sql: no position column.
DROP MATERIALIZED VIEW stats_round_leaderboard;
DROP MATERIALIZED VIEW stats_competition_leaderboard;
DROP MATERIALIZED VIEW stats_leaderboard;

CREATE MATERIALIZED VIEW stats_leaderboard AS
SELECT
    totals.*,
    rank() OVER (ORDER BY total_points DESC, exact_scores DESC)::integer AS rank
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
CREATE INDEX stats_leaderboard_by_rank ON stats_leaderboard (rank, user_id);

CREATE MATERIALIZED VIEW stats_competition_leaderboard AS
SELECT
    totals.competition_id || ':' || totals.user_id AS id,
    totals.*,
    rank() OVER (
        PARTITION BY competition_id ORDER BY total_points DESC, exact_scores DESC
    )::integer AS rank
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
CREATE INDEX stats_competition_leaderboard_by_rank
    ON stats_competition_leaderboard (competition_id, rank, user_id);

CREATE MATERIALIZED VIEW stats_round_leaderboard AS
SELECT
    totals.competition_id || ':' || totals.round || ':' || totals.user_id AS id,
    totals.*,
    rank() OVER (
        PARTITION BY competition_id, round ORDER BY total_points DESC, exact_scores DESC
    )::integer AS rank
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
CREATE INDEX stats_round_leaderboard_by_rank
    ON stats_round_leaderboard (competition_id, round, rank, user_id);
