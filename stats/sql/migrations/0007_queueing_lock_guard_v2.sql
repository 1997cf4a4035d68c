-- The queueing-lock guard, second version (replaces 0004's triggers; the migration drops them
-- first with 0004's own reverse script).
--
-- Procrastinate's queueing-lock index covers only waiting ('todo') jobs. A job going back to
-- 'todo' (a worker's retry, the rescue of a job stalled by a dead worker, a manual retry of a
-- failed job: procrastinate_retry_job_v1/v2) while a follow-up with its queueing lock waits
-- violates that index; the worker then leaves the job in 'doing' for good. The guard settles the
-- collision instead: the follow-up does the same work, so the job going back is marked
-- 'cancelled' (not 'failed': nothing failed) and a JobError row names the follow-up.
--
-- What changed from 0004, and why:
-- * Advisory locks come from a fixed key space of 1024 per-bucket keys (hashtext of the queueing
--   lock, low 10 bits), so one transaction holds at most 1024 of them whatever it defers; 0004
--   took one per queueing lock until commit, and a batch of ~14,000 exhausted the server-wide
--   lock table ('out of shared memory') for every session.
-- * Defers take their bucket SHARED, so defers never wait for one another; a job going back to
--   'todo' takes it EXCLUSIVE, so it waits for in-flight defers of its bucket (and they for it),
--   which keeps the race closed: its check sees every follow-up committed before it, and any
--   follow-up deferred after it finds it waiting (AlreadyEnqueued).
-- * The trigger names no column (no UPDATE OF, no WHEN): 0004's pinned procrastinate_jobs.status,
--   and an upstream migration changing that column's type would abort on it. The conditions
--   live in the function, which costs one early return on every other write of the table.

CREATE FUNCTION stats_queueing_lock_key(queueing_lock text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT hashtext(queueing_lock) & 1023
$$;

-- Exclusive: a job going back to 'todo', and stats.jobs.request_stats_refresh_now.
CREATE FUNCTION stats_lock_queueing_lock(queueing_lock text) RETURNS void
LANGUAGE sql
AS $$
    SELECT pg_advisory_xact_lock(hashtext('stats queueing-lock guard'),
                                 stats_queueing_lock_key(queueing_lock))
$$;

-- Shared: every defer of a queueing-locked job.
CREATE FUNCTION stats_share_queueing_lock(queueing_lock text) RETURNS void
LANGUAGE sql
AS $$
    SELECT pg_advisory_xact_lock_shared(hashtext('stats queueing-lock guard'),
                                        stats_queueing_lock_key(queueing_lock))
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
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER stats_guard_queueing_lock
    BEFORE INSERT OR UPDATE ON procrastinate_jobs
    FOR EACH ROW
    EXECUTE FUNCTION stats_guard_queueing_lock();
