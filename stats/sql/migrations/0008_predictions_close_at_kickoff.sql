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
    BEFORE INSERT OR UPDATE ON stats_prediction
    FOR EACH ROW EXECUTE FUNCTION stats_prediction_close_at_kickoff();
