-- Statistics kept from what changed (docs/architecture.md, "The statistics").
-- Writers only mark what they touched (statement-level triggers, every writer, raw SQL included);
-- the single-flight refresh consumes the marks and recomputes exactly those round boards and
-- match summaries, carries each user's difference up to the competition totals, and refreshes the
-- two remaining materialized views from those totals, never from the predictions.
DROP MATERIALIZED VIEW stats_leaderboard;
DROP MATERIALIZED VIEW stats_competition_leaderboard;
DROP MATERIALIZED VIEW stats_round_leaderboard;
DROP MATERIALIZED VIEW stats_match_summary;

-- What a write touched since the last refresh. Insert-only for writers (no unique index, so two
-- writers never wait for each other); the refresh deletes what it consumed. A NULL round means
-- only the match's summary is touched (a prediction with no points on either side); a NULL match
-- only the round (a TRUNCATE, below).
CREATE TABLE stats_touched (
    match_id integer,
    competition_id integer,
    round integer,
    marked_at timestamptz NOT NULL DEFAULT now()
);

-- One board per (competition, round), a table kept per partition by the refresh.
CREATE TABLE stats_round_leaderboard (
    id text GENERATED ALWAYS AS (competition_id::text || ':' || round::text || ':' || user_id::text) STORED,
    competition_id integer NOT NULL,
    round integer NOT NULL,
    user_id integer NOT NULL,
    total_points integer NOT NULL,
    predictions_scored integer NOT NULL,
    exact_scores integer NOT NULL,
    correct_outcomes integer NOT NULL,
    rank integer NOT NULL,
    position integer NOT NULL,
    CONSTRAINT stats_round_leaderboard_key PRIMARY KEY (competition_id, round, user_id)
);
CREATE INDEX stats_round_leaderboard_by_position ON stats_round_leaderboard (competition_id, round, position);

-- Per (competition, user) totals: the sum of that user's round rows, carried by difference.
CREATE TABLE stats_competition_total (
    id text GENERATED ALWAYS AS (competition_id::text || ':' || user_id::text) STORED,
    competition_id integer NOT NULL,
    user_id integer NOT NULL,
    total_points integer NOT NULL,
    predictions_scored integer NOT NULL,
    exact_scores integer NOT NULL,
    correct_outcomes integer NOT NULL,
    CONSTRAINT stats_competition_total_key PRIMARY KEY (competition_id, user_id)
);

-- One row per match, predicted or not, kept per match by the refresh.
CREATE TABLE stats_match_summary (
    match_id integer NOT NULL,
    predictions_count integer NOT NULL,
    home_win_predictions integer NOT NULL,
    draw_predictions integer NOT NULL,
    away_win_predictions integer NOT NULL,
    exact_scores integer NOT NULL,
    average_points numeric(6, 3),
    CONSTRAINT stats_match_summary_key PRIMARY KEY (match_id)
);

-- Every write to predictions marks its matches; the round too when points were involved.
CREATE FUNCTION stats_mark_predictions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stats_touched (match_id, competition_id, round)
        SELECT c.match_id, m.competition_id, CASE WHEN c.scored THEN m.round END
        FROM (SELECT match_id, bool_or(points IS NOT NULL) AS scored FROM new_rows GROUP BY match_id) AS c
        LEFT JOIN stats_match AS m ON m.id = c.match_id;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO stats_touched (match_id, competition_id, round)
        SELECT c.match_id, m.competition_id, CASE WHEN c.scored THEN m.round END
        FROM (SELECT match_id, bool_or(points IS NOT NULL) AS scored FROM old_rows GROUP BY match_id) AS c
        LEFT JOIN stats_match AS m ON m.id = c.match_id;
    ELSE
        INSERT INTO stats_touched (match_id, competition_id, round)
        SELECT c.match_id, m.competition_id, CASE WHEN bool_or(c.scored) THEN m.round END
        FROM (
            SELECT match_id, points IS NOT NULL AS scored FROM new_rows
            UNION ALL
            SELECT match_id, points IS NOT NULL FROM old_rows
        ) AS c
        LEFT JOIN stats_match AS m ON m.id = c.match_id
        GROUP BY c.match_id, m.competition_id, m.round;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER stats_mark_inserted_predictions AFTER INSERT ON stats_prediction REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_mark_predictions();
CREATE TRIGGER stats_mark_updated_predictions AFTER UPDATE ON stats_prediction REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_mark_predictions();
CREATE TRIGGER stats_mark_deleted_predictions AFTER DELETE ON stats_prediction REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_mark_predictions();

-- A match inserted or deleted, or whose result, status, competition or round changes, marks
-- itself and its round before and after (stamping points_calculated_at marks nothing).
CREATE FUNCTION stats_mark_matches() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stats_touched (match_id, competition_id, round)
        SELECT id, competition_id, round FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO stats_touched (match_id, competition_id, round)
        SELECT id, competition_id, round FROM old_rows;
    ELSE
        INSERT INTO stats_touched (match_id, competition_id, round)
        SELECT DISTINCT side.id, side.competition_id, side.round
        FROM old_rows AS o
        JOIN new_rows AS n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES (o.id, o.competition_id, o.round), (n.id, n.competition_id, n.round))
            AS side (id, competition_id, round)
        WHERE (o.id, o.competition_id, o.round, o.status, o.home_score, o.away_score)
              IS DISTINCT FROM (n.id, n.competition_id, n.round, n.status, n.home_score, n.away_score);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER stats_mark_inserted_matches AFTER INSERT ON stats_match REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_mark_matches();
CREATE TRIGGER stats_mark_updated_matches AFTER UPDATE ON stats_match REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_mark_matches();
CREATE TRIGGER stats_mark_deleted_matches AFTER DELETE ON stats_match REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_mark_matches();

-- A TRUNCATE fires none of the triggers above: it touches every round and match that exists or
-- has statistics (a TRUNCATE of the matches cascades to the predictions, and empties stats_match
-- before this runs, so the statistics themselves say what was there).
CREATE FUNCTION stats_mark_everything() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_touched (match_id, competition_id, round)
    SELECT id, competition_id, round FROM stats_match
    UNION SELECT match_id, NULL, NULL FROM stats_match_summary
    UNION SELECT DISTINCT NULL::integer, competition_id, round FROM stats_round_leaderboard;
    RETURN NULL;
END $$;
CREATE TRIGGER stats_mark_truncated_predictions AFTER TRUNCATE ON stats_prediction FOR EACH STATEMENT EXECUTE FUNCTION stats_mark_everything();
CREATE TRIGGER stats_mark_truncated_matches AFTER TRUNCATE ON stats_match FOR EACH STATEMENT EXECUTE FUNCTION stats_mark_everything();

-- Fill from the existing data: the round boards from the predictions, the totals from them.
INSERT INTO stats_round_leaderboard (competition_id, round, user_id, total_points, predictions_scored, exact_scores, correct_outcomes, rank, position)
SELECT totals.*, rank() OVER (PARTITION BY competition_id, round ORDER BY total_points DESC, exact_scores DESC), row_number() OVER (PARTITION BY competition_id, round ORDER BY total_points DESC, exact_scores DESC, user_id)
FROM (
    SELECT m.competition_id, m.round, p.user_id, sum(p.points)::integer, count(*)::integer,
           count(*) FILTER (WHERE p.home_score = m.home_score AND p.away_score = m.away_score)::integer,
           count(*) FILTER (WHERE sign(p.home_score - p.away_score) = sign(m.home_score - m.away_score))::integer
    FROM stats_prediction AS p JOIN stats_match AS m ON m.id = p.match_id
    WHERE p.points IS NOT NULL AND m.status = 'completed'
    GROUP BY m.competition_id, m.round, p.user_id
) AS totals (competition_id, round, user_id, total_points, predictions_scored, exact_scores, correct_outcomes);
INSERT INTO stats_competition_total (competition_id, user_id, total_points, predictions_scored, exact_scores, correct_outcomes) SELECT competition_id, user_id, sum(total_points), sum(predictions_scored), sum(exact_scores), sum(correct_outcomes) FROM stats_round_leaderboard GROUP BY competition_id, user_id;
INSERT INTO stats_match_summary
SELECT m.id, count(p.id), count(*) FILTER (WHERE p.home_score > p.away_score), count(*) FILTER (WHERE p.home_score = p.away_score), count(*) FILTER (WHERE p.home_score < p.away_score),
       count(*) FILTER (WHERE m.status = 'completed' AND p.home_score = m.home_score AND p.away_score = m.away_score),
       round(avg(p.points) FILTER (WHERE m.status = 'completed'), 3)
FROM stats_match AS m LEFT JOIN stats_prediction AS p ON p.match_id = m.id
GROUP BY m.id;

-- The two boards whose size does not grow with the season, computed from the totals.
CREATE MATERIALIZED VIEW stats_competition_leaderboard AS
SELECT t.id, t.competition_id, t.user_id, t.total_points, t.predictions_scored, t.exact_scores, t.correct_outcomes,
       rank() OVER (PARTITION BY competition_id ORDER BY total_points DESC, exact_scores DESC)::integer AS rank,
       row_number() OVER (PARTITION BY competition_id ORDER BY total_points DESC, exact_scores DESC, user_id)::integer AS position
FROM stats_competition_total AS t
WITH DATA;
CREATE UNIQUE INDEX stats_competition_leaderboard_key ON stats_competition_leaderboard (competition_id, user_id);
CREATE INDEX stats_competition_leaderboard_by_position ON stats_competition_leaderboard (competition_id, position);

CREATE MATERIALIZED VIEW stats_leaderboard AS
SELECT t.*,
       rank() OVER (ORDER BY total_points DESC, exact_scores DESC)::integer AS rank,
       row_number() OVER (ORDER BY total_points DESC, exact_scores DESC, user_id)::integer AS position
FROM (
    SELECT user_id, sum(total_points)::integer AS total_points, sum(predictions_scored)::integer AS predictions_scored,
           sum(exact_scores)::integer AS exact_scores, sum(correct_outcomes)::integer AS correct_outcomes
    FROM stats_competition_total GROUP BY user_id
) AS t
WITH DATA;
CREATE UNIQUE INDEX stats_leaderboard_key ON stats_leaderboard (user_id);
CREATE INDEX stats_leaderboard_by_position ON stats_leaderboard (position);
