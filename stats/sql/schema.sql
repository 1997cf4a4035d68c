-- Every SQL object the project owns, as it is after the latest migration: one place to read
-- today's definition without knowing which migration superseded which. The tables of the
-- league and of the job queue are not here: Django's models and migrations, and Procrastinate's,
-- describe them.
--
-- The migrations in migrations/ are frozen history; this file is the present. A migration that
-- creates, changes or drops one of these objects updates this file in the same commit:
-- tests/db/test_schema.py drops every object we own from the migrated test database, runs this
-- file, and requires the very same catalog (function bodies, triggers, view queries, columns,
-- constraints, indexes).
--
-- It runs on a database where Django's and Procrastinate's tables exist and these objects do
-- not, in one transaction. It creates the statistics empty: `manage.py rebuild_stats` then fills
-- them from the predictions.

-- === Scoring ==================================================================================

-- stats_prediction_points: 0002_prediction_points.
-- The scoring rules, once, in SQL (stats/scoring.py is the Python reference they must match).
-- A NULL result (a void match) gives NULL points. IMMUTABLE and a single expression, so the
-- planner inlines it: calling it costs the same as writing the CASE out.
CREATE FUNCTION stats_prediction_points(
    predicted_home integer,
    predicted_away integer,
    result_home integer,
    result_away integer,
    exact_points integer,
    goal_difference_points integer,
    outcome_points integer
) RETURNS smallint
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT (CASE
        WHEN result_home IS NULL OR result_away IS NULL THEN NULL
        WHEN predicted_home = result_home AND predicted_away = result_away THEN exact_points
        WHEN predicted_home - predicted_away = result_home - result_away THEN goal_difference_points
        WHEN sign(predicted_home - predicted_away) = sign(result_home - result_away) THEN outcome_points
        ELSE 0
    END)::smallint
$$;

-- === Predictions close at kickoff =============================================================
-- All of this section: 0008_predictions_close_at_kickoff, and the trigger's columns
-- 0019_close_at_kickoff_columns (scoring, which sets `points` alone, does not fire it).

-- Predictions close at kickoff, for every writer (ORM, admin, raw SQL): a prediction cannot be
-- created, or its scores changed, once its match has kicked off or is no longer scheduled.
-- Scoring's own writes (points, updated_at) pass. The refusal's SQLSTATE, 23M01, sits in class
-- 23 (integrity constraint violation), so drivers raise an IntegrityError, and Django code tells
-- it from other refusals by the code; its message names the match and why.

-- Why predictions for this match are closed, or NULL while they are open. Also asked by
-- Prediction.clean(), so a form shows the very reason the database would give.
CREATE FUNCTION stats_prediction_closed_reason(match_id bigint) RETURNS text
LANGUAGE sql
AS $$
    SELECT format(
        'predictions for match %s (%s v %s) are closed: %s',
        m.id, home.name, away.name,
        CASE WHEN m.status <> 'scheduled' THEN format('it is %s', m.status)
             ELSE format('it kicked off at %s',
                         to_char(m.kickoff_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'))
        END
    )
    FROM stats_match AS m
    JOIN stats_team AS home ON home.id = m.home_team_id
    JOIN stats_team AS away ON away.id = m.away_team_id
    WHERE m.id = match_id
      -- The clock, not the transaction's start: a long transaction gains no extra time.
      AND (m.status <> 'scheduled' OR m.kickoff_at <= clock_timestamp())
$$;

CREATE FUNCTION stats_prediction_close_at_kickoff() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    reason text;
BEGIN
    IF TG_OP = 'UPDATE'
       AND (NEW.user_id, NEW.match_id, NEW.home_score, NEW.away_score)
           IS NOT DISTINCT FROM (OLD.user_id, OLD.match_id, OLD.home_score, OLD.away_score) THEN
        RETURN NEW;  -- scoring (points) or a touch (updated_at): not a prediction being made
    END IF;
    -- The common case first, one index probe: an open match (the reason joins the teams).
    IF NOT EXISTS (
        SELECT 1 FROM stats_match
        WHERE id = NEW.match_id AND status = 'scheduled' AND kickoff_at > clock_timestamp()
    ) THEN
        reason := stats_prediction_closed_reason(NEW.match_id);
    END IF;
    IF reason IS NULL AND TG_OP = 'UPDATE' AND NEW.match_id <> OLD.match_id THEN
        reason := stats_prediction_closed_reason(OLD.match_id);  -- taken off a closed match
    END IF;
    IF reason IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '23M01', MESSAGE = reason;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER stats_prediction_close_at_kickoff
    BEFORE INSERT OR UPDATE OF user_id, match_id, home_score, away_score ON stats_prediction
    FOR EACH ROW EXECUTE FUNCTION stats_prediction_close_at_kickoff();

-- === Statistics: totals by difference, ranks from counts ======================================
-- All of this section: 0009_incremental_stats and 0013_ranks_from_counts (docs/architecture.md,
-- "The statistics"). Writers only log what they changed, insert-only, in their own transaction
-- (statement-level triggers: every writer, raw SQL included); the single-flight refresh
-- (stats/refresh.py) consumes the log its snapshot sees, moves the per-player totals, the
-- counts of players per (points, exact scores) and the match summaries by their difference, and
-- refreshes the three rank views (over those small counts) CONCURRENTLY.

-- The change log. No index and no unique key: two writers never wait for each other here. The
-- refresh deletes the rows its snapshot sees; rows committed after it stay for the next refresh.

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

-- Movement (previous_rank) on the overall and competition boards: the latest round that counted
-- in each competition (the overall board's is the latest of them), and how many players stood
-- at each (total_points, exact_scores) before it on each board (their totals less their row of
-- that round), by difference: 0015_previous_ranks.
CREATE TABLE stats_latest_round (
    competition_id integer NOT NULL,
    round integer NOT NULL,
    match_id integer NOT NULL,
    completed_at timestamp with time zone,
    CONSTRAINT stats_latest_round_key PRIMARY KEY (competition_id)
);
CREATE TABLE stats_overall_previous_count (
    total_points integer NOT NULL,
    exact_scores integer NOT NULL,
    players integer NOT NULL,
    CONSTRAINT stats_overall_previous_count_key PRIMARY KEY (total_points, exact_scores)
);
CREATE TABLE stats_competition_previous_count (
    competition_id integer NOT NULL,
    total_points integer NOT NULL,
    exact_scores integer NOT NULL,
    players integer NOT NULL,
    CONSTRAINT stats_competition_previous_count_key PRIMARY KEY (competition_id, total_points, exact_scores)
);

-- Large private groups' boards from counts (groups with stats_playergroup.counts_kept): each
-- member's standing in board order, members per (total_points, exact_scores) now and before the
-- board's latest round, moved by the refresh and by the membership trigger: 0016_group_counts.
CREATE TABLE stats_group_overall_member (
    group_id bigint NOT NULL,
    user_id integer NOT NULL,
    total_points integer NOT NULL,
    exact_scores integer NOT NULL,
    CONSTRAINT stats_group_overall_member_key PRIMARY KEY (group_id, user_id)
);
CREATE INDEX stats_group_overall_member_board
    ON stats_group_overall_member (group_id, total_points DESC, exact_scores DESC, user_id);
CREATE TABLE stats_group_competition_member (
    group_id bigint NOT NULL,
    competition_id integer NOT NULL,
    user_id integer NOT NULL,
    total_points integer NOT NULL,
    exact_scores integer NOT NULL,
    CONSTRAINT stats_group_competition_member_key PRIMARY KEY (group_id, competition_id, user_id)
);
CREATE INDEX stats_group_competition_member_board
    ON stats_group_competition_member (group_id, competition_id, total_points DESC, exact_scores DESC, user_id);
CREATE TABLE stats_group_overall_count (
    group_id bigint NOT NULL,
    total_points integer NOT NULL,
    exact_scores integer NOT NULL,
    players integer NOT NULL,
    CONSTRAINT stats_group_overall_count_key PRIMARY KEY (group_id, total_points, exact_scores)
);
CREATE TABLE stats_group_competition_count (
    group_id bigint NOT NULL,
    competition_id integer NOT NULL,
    total_points integer NOT NULL,
    exact_scores integer NOT NULL,
    players integer NOT NULL,
    CONSTRAINT stats_group_competition_count_key
        PRIMARY KEY (group_id, competition_id, total_points, exact_scores)
);
CREATE TABLE stats_group_overall_previous_count (
    group_id bigint NOT NULL,
    total_points integer NOT NULL,
    exact_scores integer NOT NULL,
    players integer NOT NULL,
    CONSTRAINT stats_group_overall_previous_count_key PRIMARY KEY (group_id, total_points, exact_scores)
);
CREATE TABLE stats_group_competition_previous_count (
    group_id bigint NOT NULL,
    competition_id integer NOT NULL,
    total_points integer NOT NULL,
    exact_scores integer NOT NULL,
    players integer NOT NULL,
    CONSTRAINT stats_group_competition_previous_count_key
        PRIMARY KEY (group_id, competition_id, total_points, exact_scores)
);

-- Members join (sign 1) or leave (sign -1) kept groups: their standing now and before each
-- board's latest round (as the refresh last kept the totals and stats_latest_round) moves the
-- members' rows and the counts. Set-based: a group's build passes all its members at once.
-- Members of groups not kept are passed over.
CREATE FUNCTION stats_group_counts_move(group_ids bigint[], user_ids integer[], sign integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DROP TABLE IF EXISTS pg_temp.stats_group_change;
    CREATE TEMP TABLE stats_group_change ON COMMIT DROP AS
    WITH changed AS (
        SELECT c.group_id, c.user_id
        FROM unnest(group_ids, user_ids) AS c (group_id, user_id)
        JOIN stats_playergroup AS g ON g.id = c.group_id
        WHERE g.counts_kept
    )
    SELECT c.group_id, NULL::integer AS competition_id, c.user_id, t.total_points, t.exact_scores,
           t.total_points - coalesce(r.total_points, 0) AS previous_points,
           t.exact_scores - coalesce(r.exact_scores, 0) AS previous_exact
    FROM changed AS c
    JOIN stats_user_total AS t ON t.user_id = c.user_id
    LEFT JOIN (
        SELECT competition_id, round FROM stats_latest_round
        ORDER BY completed_at DESC, match_id DESC LIMIT 1
    ) AS l ON TRUE
    LEFT JOIN stats_round_total AS r
      ON r.competition_id = l.competition_id AND r.round = l.round AND r.user_id = t.user_id
    UNION ALL
    SELECT c.group_id, t.competition_id, c.user_id, t.total_points, t.exact_scores,
           t.total_points - coalesce(r.total_points, 0),
           t.exact_scores - coalesce(r.exact_scores, 0)
    FROM changed AS c
    JOIN stats_competition_total AS t ON t.user_id = c.user_id
    LEFT JOIN stats_latest_round AS l ON l.competition_id = t.competition_id
    LEFT JOIN stats_round_total AS r
      ON r.competition_id = l.competition_id AND r.round = l.round AND r.user_id = t.user_id;

    IF sign > 0 THEN
        INSERT INTO stats_group_overall_member (group_id, user_id, total_points, exact_scores)
        SELECT group_id, user_id, total_points, exact_scores
        FROM stats_group_change WHERE competition_id IS NULL;
        INSERT INTO stats_group_competition_member
            (group_id, competition_id, user_id, total_points, exact_scores)
        SELECT group_id, competition_id, user_id, total_points, exact_scores
        FROM stats_group_change WHERE competition_id IS NOT NULL;
    ELSE
        DELETE FROM stats_group_overall_member AS m USING stats_group_change AS c
        WHERE c.competition_id IS NULL AND m.group_id = c.group_id AND m.user_id = c.user_id;
        DELETE FROM stats_group_competition_member AS m USING stats_group_change AS c
        WHERE m.group_id = c.group_id AND m.competition_id = c.competition_id
          AND m.user_id = c.user_id;
    END IF;

    INSERT INTO stats_group_overall_count AS k (group_id, total_points, exact_scores, players)
    SELECT group_id, total_points, exact_scores, sign * count(*)
    FROM stats_group_change WHERE competition_id IS NULL
    GROUP BY group_id, total_points, exact_scores
    ON CONFLICT (group_id, total_points, exact_scores)
    DO UPDATE SET players = k.players + excluded.players;
    INSERT INTO stats_group_competition_count AS k
        (group_id, competition_id, total_points, exact_scores, players)
    SELECT group_id, competition_id, total_points, exact_scores, sign * count(*)
    FROM stats_group_change WHERE competition_id IS NOT NULL
    GROUP BY group_id, competition_id, total_points, exact_scores
    ON CONFLICT (group_id, competition_id, total_points, exact_scores)
    DO UPDATE SET players = k.players + excluded.players;
    INSERT INTO stats_group_overall_previous_count AS k
        (group_id, total_points, exact_scores, players)
    SELECT group_id, previous_points, previous_exact, sign * count(*)
    FROM stats_group_change
    WHERE competition_id IS NULL AND (previous_points, previous_exact) <> (0, 0)
    GROUP BY group_id, previous_points, previous_exact
    ON CONFLICT (group_id, total_points, exact_scores)
    DO UPDATE SET players = k.players + excluded.players;
    INSERT INTO stats_group_competition_previous_count AS k
        (group_id, competition_id, total_points, exact_scores, players)
    SELECT group_id, competition_id, previous_points, previous_exact, sign * count(*)
    FROM stats_group_change
    WHERE competition_id IS NOT NULL AND (previous_points, previous_exact) <> (0, 0)
    GROUP BY group_id, competition_id, previous_points, previous_exact
    ON CONFLICT (group_id, competition_id, total_points, exact_scores)
    DO UPDATE SET players = k.players + excluded.players;

    IF sign < 0 THEN
        DELETE FROM stats_group_overall_count AS k
        WHERE k.players <= 0 AND k.group_id IN (SELECT group_id FROM stats_group_change);
        DELETE FROM stats_group_competition_count AS k
        WHERE k.players <= 0 AND k.group_id IN (SELECT group_id FROM stats_group_change);
        DELETE FROM stats_group_overall_previous_count AS k
        WHERE k.players <= 0 AND k.group_id IN (SELECT group_id FROM stats_group_change);
        DELETE FROM stats_group_competition_previous_count AS k
        WHERE k.players <= 0 AND k.group_id IN (SELECT group_id FROM stats_group_change);
    END IF;
END;
$$;

-- A group's rows from scratch (it crossed the threshold, or is built again): none left, then
-- every member joins.
CREATE FUNCTION stats_group_counts_build(the_group bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stats_group_counts_drop(the_group);
    PERFORM stats_group_counts_move(array_agg(group_id), array_agg(user_id::integer), 1)
    FROM stats_groupmembership WHERE group_id = the_group;
END;
$$;

CREATE FUNCTION stats_group_counts_drop(the_group bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stats_group_overall_member WHERE group_id = the_group;
    DELETE FROM stats_group_competition_member WHERE group_id = the_group;
    DELETE FROM stats_group_overall_count WHERE group_id = the_group;
    DELETE FROM stats_group_competition_count WHERE group_id = the_group;
    DELETE FROM stats_group_overall_previous_count WHERE group_id = the_group;
    DELETE FROM stats_group_competition_previous_count WHERE group_id = the_group;
END;
$$;

-- Memberships added or removed in a kept group, however (a join, a leave, a removal, a deleted
-- group or account): one statement's rows at once. It waits for a running refresh (its lock),
-- so the totals it reads are the ones the refresh commits and no refresh misses the member.
CREATE FUNCTION stats_group_membership_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    group_ids bigint[];
    user_ids integer[];
BEGIN
    SELECT array_agg(c.group_id), array_agg(c.user_id::integer) INTO group_ids, user_ids
    FROM changed AS c JOIN stats_playergroup AS g ON g.id = c.group_id
    WHERE g.counts_kept;
    IF group_ids IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('stats refresh', 0));
        PERFORM stats_group_counts_move(
            group_ids, user_ids, CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END
        );
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER stats_group_member_joined
    AFTER INSERT ON stats_groupmembership
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION stats_group_membership_changed();
CREATE TRIGGER stats_group_member_left
    AFTER DELETE ON stats_groupmembership
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION stats_group_membership_changed();

-- One row per match, predicted or not, by difference: points_total and points_counted carry
-- average_points.
CREATE TABLE stats_match_summary (
    match_id integer NOT NULL,
    predictions_count integer NOT NULL,
    home_win_predictions integer NOT NULL,
    draw_predictions integer NOT NULL,
    away_win_predictions integer NOT NULL,
    exact_scores integer NOT NULL,
    average_points numeric(6, 3),
    points_total integer NOT NULL,
    points_counted integer NOT NULL,
    CONSTRAINT stats_match_summary_key PRIMARY KEY (match_id)
);

-- Every insert, update and delete of predictions logs the rows before and after, as they are:
-- which match state they count in is the refresh's business, so a prediction written while its
-- match changes needs no lock on the match.
-- PL/pgSQL plans the statement below once per connection, with the row counts of the first
-- statement that fires it: after one that changed no row or one, a nested loop over the two
-- transition tables, quadratic for the next match's thousands of rows (20,000 rows: 26 s
-- instead of 0.8 s). Without nested loops the cached plan is a hash join, right at any size;
-- without JIT, whose compiling the disabled nested loop's cost would set off (0.2 s a scoring).
CREATE FUNCTION stats_log_prediction_changes() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off SET jit = off AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stats_prediction_change (side, match_id, user_id, home_score, away_score, points)
        SELECT 1, match_id, user_id, home_score, away_score, points FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO stats_prediction_change (side, match_id, user_id, home_score, away_score, points)
        SELECT -1, match_id, user_id, home_score, away_score, points FROM old_rows;
    ELSE
        -- A prediction whose points alone changed: one row (side 0, the points before and
        -- after); one whose match, player or scores changed: out (-1) and in (1). An update that
        -- changes none of these (updated_at) logs nothing.
        INSERT INTO stats_prediction_change (side, match_id, user_id, home_score, away_score, points, points_before)
        SELECT 0, n.match_id, n.user_id, n.home_score, n.away_score, n.points, o.points
        FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id
        WHERE (o.match_id, o.user_id, o.home_score, o.away_score)
              = (n.match_id, n.user_id, n.home_score, n.away_score)
          AND o.points IS DISTINCT FROM n.points
        UNION ALL
        SELECT change.*
        FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES
            (-1, o.match_id, o.user_id, o.home_score, o.away_score, o.points, NULL::integer),
            (1, n.match_id, n.user_id, n.home_score, n.away_score, n.points, NULL::integer)
        ) AS change
        WHERE (o.match_id, o.user_id, o.home_score, o.away_score)
              <> (n.match_id, n.user_id, n.home_score, n.away_score);
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
-- No nested loops, as stats_log_prediction_changes() above.
CREATE FUNCTION stats_log_match_changes() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off SET jit = off AS $$
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

-- The rank views: each board's groups, best first, with how many players stand above each
-- (rank = players_above + 1). Their size is the number of distinct totals, not of players, so a
-- CONCURRENTLY refresh costs milliseconds at any number of players. 0013_ranks_from_counts, then
-- 0018_rank_views_in_key_order: their rows in key order (ORDER BY), because REFRESH ...
-- CONCURRENTLY sorts the new rows on their whole image to find duplicates, and a sort of rows
-- already in that order is one pass (a 1,604-group view refreshed in 11 ms, not 20).
CREATE MATERIALIZED VIEW stats_overall_rank AS
SELECT total_points, exact_scores, players,
       (coalesce(sum(players) OVER (
           ORDER BY total_points DESC, exact_scores DESC
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0))::integer AS players_above
FROM stats_overall_count
ORDER BY total_points, exact_scores
WITH DATA;
CREATE UNIQUE INDEX stats_overall_rank_key ON stats_overall_rank (total_points, exact_scores);

CREATE MATERIALIZED VIEW stats_competition_rank AS
SELECT competition_id, total_points, exact_scores, players,
       (coalesce(sum(players) OVER (
           PARTITION BY competition_id ORDER BY total_points DESC, exact_scores DESC
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0))::integer AS players_above
FROM stats_competition_count
ORDER BY competition_id, total_points, exact_scores
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
ORDER BY competition_id, round, total_points, exact_scores
WITH DATA;
CREATE UNIQUE INDEX stats_round_rank_key
    ON stats_round_rank (competition_id, round, total_points, exact_scores);

-- The previous rank views: as the rank views, over the previous counts (previous_rank =
-- players_above + 1).
CREATE MATERIALIZED VIEW stats_overall_previous_rank AS
SELECT total_points, exact_scores, players,
       (coalesce(sum(players) OVER (
           ORDER BY total_points DESC, exact_scores DESC
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0))::integer AS players_above
FROM stats_overall_previous_count
ORDER BY total_points, exact_scores
WITH DATA;
CREATE UNIQUE INDEX stats_overall_previous_rank_key
    ON stats_overall_previous_rank (total_points, exact_scores);

CREATE MATERIALIZED VIEW stats_competition_previous_rank AS
SELECT competition_id, total_points, exact_scores, players,
       (coalesce(sum(players) OVER (
           PARTITION BY competition_id ORDER BY total_points DESC, exact_scores DESC
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ), 0))::integer AS players_above
FROM stats_competition_previous_count
ORDER BY competition_id, total_points, exact_scores
WITH DATA;
CREATE UNIQUE INDEX stats_competition_previous_rank_key
    ON stats_competition_previous_rank (competition_id, total_points, exact_scores);

-- === The job queue: objects on Procrastinate's tables =========================================
-- The queueing-lock guard: 0012_queueing_lock_guard_v3 (which replaced 0007's, which replaced
-- 0004's). docs/operations.md, "Upgrading Procrastinate", says what it relies on upstream.
--
-- Procrastinate's queueing-lock index covers only waiting ('todo') jobs. A job going back to
-- 'todo' while a follow-up with its queueing lock waits is settled 'cancelled' (with a JobError
-- row naming the follow-up and a 'cancelled' event). Each queueing lock has its own advisory key
-- (the whole hashtext of its name): a defer takes it SHARED, a job going back EXCLUSIVE; past 256
-- defers a transaction takes the batch key EXCLUSIVE instead, and a job going back takes that one
-- SHARED. Only a transaction's first key is waited for when going back; later ones are tried and
-- fail with lock_not_available, so a batch defer and a bulk requeue never deadlock.
--
-- How many keys a transaction took is kept in a transaction-local setting
-- (stats.queueing_lock_keys, set_config(..., true)): it survives no commit, so it is sound
-- behind PgBouncer's transaction pooling.

CREATE FUNCTION stats_queueing_lock_keys_taken(taken integer DEFAULT NULL) RETURNS integer
LANGUAGE sql
AS $$
    SELECT CASE
        WHEN taken IS NULL
            THEN coalesce(nullif(current_setting('stats.queueing_lock_keys', true), ''), '0')::integer
        ELSE set_config('stats.queueing_lock_keys', taken::text, true)::integer
    END
$$;

-- Exclusive: a job going back to 'todo', stats.jobs.request_stats_refresh_now, the job admin's
-- retry. Waits only when it is the transaction's first guard key.
CREATE FUNCTION stats_lock_queueing_lock(queueing_lock text) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    taken integer := stats_queueing_lock_keys_taken();
BEGIN
    IF taken = 0 THEN
        PERFORM pg_advisory_xact_lock(hashtext('stats queueing-lock guard'), hashtext(queueing_lock));
        PERFORM pg_advisory_xact_lock_shared(hashtext('stats queueing-lock guard: batch'), 0);
    ELSIF NOT (
        pg_try_advisory_xact_lock(hashtext('stats queueing-lock guard'), hashtext(queueing_lock))
        AND pg_try_advisory_xact_lock_shared(hashtext('stats queueing-lock guard: batch'), 0)
    ) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'lock_not_available',
            MESSAGE = format('a job with queueing lock %s cannot go back to the queue now: a defer'
                             ' with that queueing lock is in flight in another transaction',
                             queueing_lock),
            HINT = 'Run the statement again; it waits when it requeues one job per transaction.';
    END IF;
    PERFORM stats_queueing_lock_keys_taken(taken + 1);
END;
$$;

-- Shared: every defer of a queueing-locked job.
CREATE FUNCTION stats_share_queueing_lock(queueing_lock text) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    taken integer := stats_queueing_lock_keys_taken();
BEGIN
    IF taken < 256 THEN
        PERFORM pg_advisory_xact_lock_shared(hashtext('stats queueing-lock guard'),
                                             hashtext(queueing_lock));
        PERFORM stats_queueing_lock_keys_taken(taken + 1);
    ELSIF taken = 256 THEN
        PERFORM pg_advisory_xact_lock(hashtext('stats queueing-lock guard: batch'), 0);
        PERFORM stats_queueing_lock_keys_taken(taken + 1);
    END IF;
END;
$$;

CREATE FUNCTION stats_guard_queueing_lock() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    follow_up bigint;
BEGIN
    IF NEW.queueing_lock IS NULL OR NEW.status <> 'todo' THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM stats_share_queueing_lock(NEW.queueing_lock);
        RETURN NEW;
    END IF;
    IF OLD.status = 'todo' AND OLD.queueing_lock IS NOT DISTINCT FROM NEW.queueing_lock THEN
        RETURN NEW;  -- it was waiting already: nothing goes back
    END IF;

    PERFORM stats_lock_queueing_lock(NEW.queueing_lock);
    -- A new snapshot (this function is volatile): every defer that held the lock has committed.
    SELECT id INTO follow_up
    FROM procrastinate_jobs
    WHERE queueing_lock = NEW.queueing_lock AND status = 'todo' AND id <> NEW.id;
    IF follow_up IS NOT NULL THEN
        NEW.status := 'cancelled';
        INSERT INTO stats_joberror (job_id, task_name, attempt, error, traceback, raised_at)
        VALUES (
            NEW.id, NEW.task_name, OLD.attempts,
            format('Superseded by job #%s, which waits with the same queueing lock (%s)'
                   ' and does this job''s work', follow_up, NEW.queueing_lock),
            '', now()
        );
        IF OLD.status <> 'todo' THEN
            INSERT INTO procrastinate_events (job_id, type) VALUES (NEW.id, 'cancelled');
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER stats_guard_queueing_lock
    BEFORE INSERT OR UPDATE ON procrastinate_jobs
    FOR EACH ROW
    EXECUTE FUNCTION stats_guard_queueing_lock();

-- The failures of /metrics' last-day count, by time: 0010_failed_job_events_index. The
-- migration builds it CONCURRENTLY, so workers keep writing events; this file runs in a
-- transaction, where CONCURRENTLY cannot.
CREATE INDEX stats_failed_job_events_at
    ON procrastinate_events (at) WHERE type = 'failed';
