-- Large private groups' boards from counts (issue 22): for each group kept by counts
-- (stats_playergroup.counts_kept, set by stats/groups.py at STATS_GROUP_COUNTS_MIN_MEMBERS),
-- its members' standings on the overall and competition boards in board order, how many members
-- stand at each (total_points, exact_scores), and how many stood there before the board's latest
-- round (the (0, 0) group left out, as the league's previous counts do). The refresh moves them
-- by difference (refresh/group_*.sql); a membership moves one member's rows (the trigger below);
-- a group crossing the threshold is built once (stats_group_counts_build).
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
