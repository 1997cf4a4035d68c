-- Back to 0006: the four materialized views, each recomputed from every prediction.
DROP MATERIALIZED VIEW stats_leaderboard;
DROP MATERIALIZED VIEW stats_competition_leaderboard;
DROP TRIGGER stats_mark_inserted_predictions ON stats_prediction;
DROP TRIGGER stats_mark_updated_predictions ON stats_prediction;
DROP TRIGGER stats_mark_deleted_predictions ON stats_prediction;
DROP TRIGGER stats_mark_inserted_matches ON stats_match;
DROP TRIGGER stats_mark_updated_matches ON stats_match;
DROP TRIGGER stats_mark_deleted_matches ON stats_match;
DROP TRIGGER stats_mark_truncated_predictions ON stats_prediction;
DROP TRIGGER stats_mark_truncated_matches ON stats_match;
DROP FUNCTION stats_mark_everything();
DROP FUNCTION stats_mark_predictions();
DROP FUNCTION stats_mark_matches();
DROP TABLE stats_touched, stats_round_leaderboard, stats_competition_total, stats_match_summary;

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

CREATE MATERIALIZED VIEW stats_match_summary AS
SELECT
    m.id AS match_id,
    count(p.id)::integer AS predictions_count,
    count(*) FILTER (WHERE p.home_score > p.away_score)::integer AS home_win_predictions,
    count(*) FILTER (WHERE p.home_score = p.away_score)::integer AS draw_predictions,
    count(*) FILTER (WHERE p.home_score < p.away_score)::integer AS away_win_predictions,
    count(*) FILTER (
        WHERE m.status = 'completed'
          AND p.home_score = m.home_score AND p.away_score = m.away_score
    )::integer AS exact_scores,
    round(avg(p.points) FILTER (WHERE m.status = 'completed'), 3)::numeric(6, 3) AS average_points
FROM stats_match AS m
LEFT JOIN stats_prediction AS p ON p.match_id = m.id
GROUP BY m.id
WITH DATA;
CREATE UNIQUE INDEX stats_match_summary_key ON stats_match_summary (match_id);
