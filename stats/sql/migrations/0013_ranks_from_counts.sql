-- Totals by difference, ranks from counts (docs/architecture.md, "The statistics").
-- Writers only log what they changed, insert-only, in their own transaction: the predictions'
-- rows before and after, a match's state before it changed. The single-flight refresh consumes
-- the log its snapshot sees, turns it into each player's difference at every grain (overall, per
-- competition, per round) and each match summary's, moves the totals by it, moves the counts of
-- players per (points, exact scores) by one for every player whose totals moved, and refreshes
-- the three rank views (over those small counts) CONCURRENTLY. Nothing is ranked per player.
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
DROP TABLE stats_touched, stats_round_leaderboard;

-- === The change log: insert-only for writers =================================================
-- No index and no unique key: two writers never wait for each other here. The refresh deletes
-- the rows its snapshot sees; rows committed after it stay for the next refresh.

-- A prediction as it was (side -1) or became (side +1) in an insert, update or delete; or, when
-- only its points changed (a scoring), once (side 0), with its points before and after.
CREATE TABLE stats_prediction_change (
    side smallint NOT NULL,
    match_id integer NOT NULL,
    user_id integer NOT NULL,
    home_score integer NOT NULL,
    away_score integer NOT NULL,
    points integer,
    points_before integer,
    logged_at timestamptz NOT NULL DEFAULT now()
);

-- A match's state before it was inserted (existed = false), changed, or deleted. The earliest
-- unconsumed row of a match is the state the totals count it in. match_id NULL: a TRUNCATE,
-- every statistic is recounted.
CREATE TABLE stats_match_change (
    id bigint GENERATED ALWAYS AS IDENTITY,
    match_id integer,
    existed boolean NOT NULL,
    competition_id integer,
    round integer,
    status varchar(16),
    home_score integer,
    away_score integer,
    logged_at timestamptz NOT NULL DEFAULT now()
);

-- === Totals, counts, ranks, summaries =========================================================

-- Per-player totals at each grain, by difference. Each has the board's order as an index, so a
-- page is read from the (points, exact) group where it starts.
CREATE TABLE stats_user_total (
    user_id integer NOT NULL,
    total_points integer NOT NULL,
    predictions_scored integer NOT NULL,
    exact_scores integer NOT NULL,
    correct_outcomes integer NOT NULL,
    CONSTRAINT stats_user_total_key PRIMARY KEY (user_id)
);
CREATE INDEX stats_user_total_by_rank
    ON stats_user_total (total_points DESC, exact_scores DESC, user_id);

CREATE INDEX stats_competition_total_by_rank
    ON stats_competition_total (competition_id, total_points DESC, exact_scores DESC, user_id);

CREATE TABLE stats_round_total (
    id text GENERATED ALWAYS AS (
        competition_id::text || ':' || round::text || ':' || user_id::text
    ) STORED,
    competition_id integer NOT NULL,
    round integer NOT NULL,
    user_id integer NOT NULL,
    total_points integer NOT NULL,
    predictions_scored integer NOT NULL,
    exact_scores integer NOT NULL,
    correct_outcomes integer NOT NULL,
    CONSTRAINT stats_round_total_key PRIMARY KEY (competition_id, round, user_id)
);
CREATE INDEX stats_round_total_by_rank
    ON stats_round_total (competition_id, round, total_points DESC, exact_scores DESC, user_id);

-- How many players stand at each (total_points, exact_scores) on each board, by difference.
CREATE TABLE stats_overall_count (
    total_points integer NOT NULL,
    exact_scores integer NOT NULL,
    players integer NOT NULL,
    CONSTRAINT stats_overall_count_key PRIMARY KEY (total_points, exact_scores)
);
CREATE TABLE stats_competition_count (
    competition_id integer NOT NULL,
    total_points integer NOT NULL,
    exact_scores integer NOT NULL,
    players integer NOT NULL,
    CONSTRAINT stats_competition_count_key PRIMARY KEY (competition_id, total_points, exact_scores)
);
CREATE TABLE stats_round_count (
    competition_id integer NOT NULL,
    round integer NOT NULL,
    total_points integer NOT NULL,
    exact_scores integer NOT NULL,
    players integer NOT NULL,
    CONSTRAINT stats_round_count_key
        PRIMARY KEY (competition_id, round, total_points, exact_scores)
);

-- Match summaries by difference: points_total and points_counted carry average_points. Emptied
-- and refilled below with the totals, so that writes not refreshed yet are counted too.
TRUNCATE stats_match_summary, stats_competition_total;
ALTER TABLE stats_match_summary
    ADD COLUMN points_total integer NOT NULL,
    ADD COLUMN points_counted integer NOT NULL;

-- === Writers log ==============================================================================

-- Every insert, update and delete of predictions logs the rows before and after, as they are:
-- which match state they count in is the refresh's business, so a prediction written while its
-- match changes needs no lock on the match.
CREATE FUNCTION stats_log_prediction_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stats_prediction_change (side, match_id, user_id, home_score, away_score, points)
        SELECT 1, match_id, user_id, home_score, away_score, points FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO stats_prediction_change (side, match_id, user_id, home_score, away_score, points)
        SELECT -1, match_id, user_id, home_score, away_score, points FROM old_rows;
    ELSE
        -- One row per changed prediction, two when more than its points changed; an update that
        -- changes none of these (updated_at) logs nothing.
        INSERT INTO stats_prediction_change (side, match_id, user_id, home_score, away_score, points, points_before)
        SELECT CASE WHEN moved THEN change.side ELSE 0 END, change.match_id, change.user_id,
               change.home_score, change.away_score, change.points,
               CASE WHEN NOT moved THEN o.points END
        FROM old_rows AS o
        JOIN new_rows AS n ON n.id = o.id
        CROSS JOIN LATERAL (
            SELECT (o.match_id, o.user_id, o.home_score, o.away_score)
                   IS DISTINCT FROM (n.match_id, n.user_id, n.home_score, n.away_score) AS moved
        ) AS how
        CROSS JOIN LATERAL (VALUES
            (-1, o.match_id, o.user_id, o.home_score, o.away_score, o.points, how.moved),
            (1, n.match_id, n.user_id, n.home_score, n.away_score, n.points, true)
        ) AS change (side, match_id, user_id, home_score, away_score, points, logged)
        WHERE change.logged AND (moved OR o.points IS DISTINCT FROM n.points);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER stats_log_inserted_predictions
    AFTER INSERT ON stats_prediction
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stats_log_prediction_changes();
CREATE TRIGGER stats_log_updated_predictions
    AFTER UPDATE ON stats_prediction
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stats_log_prediction_changes();
CREATE TRIGGER stats_log_deleted_predictions
    AFTER DELETE ON stats_prediction
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stats_log_prediction_changes();

-- A match inserted, deleted, or whose status, score, competition or round changes logs its state
-- before (stamping points_calculated_at logs nothing).
CREATE FUNCTION stats_log_match_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stats_match_change (match_id, existed) SELECT id, false FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO stats_match_change (match_id, existed, competition_id, round, status, home_score, away_score)
        SELECT id, true, competition_id, round, status, home_score, away_score FROM old_rows;
    ELSE
        INSERT INTO stats_match_change (match_id, existed, competition_id, round, status, home_score, away_score)
        SELECT o.id, true, o.competition_id, o.round, o.status, o.home_score, o.away_score
        FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id
        WHERE (o.competition_id, o.round, o.status, o.home_score, o.away_score)
              IS DISTINCT FROM (n.competition_id, n.round, n.status, n.home_score, n.away_score);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER stats_log_inserted_matches
    AFTER INSERT ON stats_match
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stats_log_match_changes();
CREATE TRIGGER stats_log_updated_matches
    AFTER UPDATE ON stats_match
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stats_log_match_changes();
CREATE TRIGGER stats_log_deleted_matches
    AFTER DELETE ON stats_match
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stats_log_match_changes();

-- A TRUNCATE fires no row or statement trigger above: it asks the refresh to recount everything.
CREATE FUNCTION stats_log_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_match_change (match_id, existed) VALUES (NULL, false);
    RETURN NULL;
END $$;
CREATE TRIGGER stats_log_truncated_predictions
    AFTER TRUNCATE ON stats_prediction
    FOR EACH STATEMENT EXECUTE FUNCTION stats_log_truncate();
CREATE TRIGGER stats_log_truncated_matches
    AFTER TRUNCATE ON stats_match
    FOR EACH STATEMENT EXECUTE FUNCTION stats_log_truncate();

-- === Fill from the data already there =========================================================
-- Every total and summary from the predictions, the counts from the totals, the views from the
-- counts: writes marked and not refreshed by the previous design are counted here.
INSERT INTO stats_round_total (competition_id, round, user_id, total_points, predictions_scored, exact_scores, correct_outcomes)
SELECT m.competition_id, m.round, p.user_id, sum(p.points), count(*),
       count(*) FILTER (WHERE p.home_score = m.home_score AND p.away_score = m.away_score),
       count(*) FILTER (WHERE sign(p.home_score - p.away_score) = sign(m.home_score - m.away_score))
FROM stats_prediction AS p JOIN stats_match AS m ON m.id = p.match_id
WHERE p.points IS NOT NULL AND m.status = 'completed'
GROUP BY m.competition_id, m.round, p.user_id;
INSERT INTO stats_competition_total (competition_id, user_id, total_points, predictions_scored, exact_scores, correct_outcomes)
SELECT competition_id, user_id, sum(total_points), sum(predictions_scored), sum(exact_scores), sum(correct_outcomes)
FROM stats_round_total GROUP BY competition_id, user_id;
INSERT INTO stats_match_summary (match_id, predictions_count, home_win_predictions, draw_predictions, away_win_predictions, exact_scores, average_points, points_total, points_counted)
SELECT m.id, count(p.id), count(*) FILTER (WHERE p.home_score > p.away_score),
       count(*) FILTER (WHERE p.home_score = p.away_score), count(*) FILTER (WHERE p.home_score < p.away_score),
       count(*) FILTER (WHERE m.status = 'completed' AND p.home_score = m.home_score AND p.away_score = m.away_score),
       round(avg(p.points) FILTER (WHERE m.status = 'completed'), 3),
       coalesce(sum(p.points) FILTER (WHERE m.status = 'completed'), 0),
       count(p.points) FILTER (WHERE m.status = 'completed')
FROM stats_match AS m LEFT JOIN stats_prediction AS p ON p.match_id = m.id
GROUP BY m.id;
INSERT INTO stats_user_total (user_id, total_points, predictions_scored, exact_scores, correct_outcomes)
SELECT user_id, sum(total_points), sum(predictions_scored), sum(exact_scores), sum(correct_outcomes)
FROM stats_competition_total GROUP BY user_id;
INSERT INTO stats_overall_count
SELECT total_points, exact_scores, count(*) FROM stats_user_total GROUP BY 1, 2;
INSERT INTO stats_competition_count
SELECT competition_id, total_points, exact_scores, count(*) FROM stats_competition_total GROUP BY 1, 2, 3;
INSERT INTO stats_round_count
SELECT competition_id, round, total_points, exact_scores, count(*) FROM stats_round_total GROUP BY 1, 2, 3, 4;

-- The rank views: each board's groups, best first, with how many players stand above each
-- (rank = players_above + 1). Their size is the number of distinct totals, not of players, so a
-- CONCURRENTLY refresh costs milliseconds at any number of players.
CREATE MATERIALIZED VIEW stats_overall_rank AS
SELECT total_points, exact_scores, players,
       (coalesce(sum(players) OVER (
           ORDER BY total_points DESC, exact_scores DESC
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0))::integer AS players_above
FROM stats_overall_count
WITH DATA;
CREATE UNIQUE INDEX stats_overall_rank_key ON stats_overall_rank (total_points, exact_scores);

CREATE MATERIALIZED VIEW stats_competition_rank AS
SELECT competition_id, total_points, exact_scores, players,
       (coalesce(sum(players) OVER (
           PARTITION BY competition_id ORDER BY total_points DESC, exact_scores DESC
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0))::integer AS players_above
FROM stats_competition_count
WITH DATA;
CREATE UNIQUE INDEX stats_competition_rank_key
    ON stats_competition_rank (competition_id, total_points, exact_scores);

CREATE MATERIALIZED VIEW stats_round_rank AS
SELECT competition_id, round, total_points, exact_scores, players,
       (coalesce(sum(players) OVER (
           PARTITION BY competition_id, round ORDER BY total_points DESC, exact_scores DESC
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0))::integer AS players_above
FROM stats_round_count
WITH DATA;
CREATE UNIQUE INDEX stats_round_rank_key
    ON stats_round_rank (competition_id, round, total_points, exact_scores);
