-- The trigger function as migration 0013 made it (with 0017's settings).
CREATE OR REPLACE FUNCTION stats_log_prediction_changes() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off SET jit = off AS $$
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
