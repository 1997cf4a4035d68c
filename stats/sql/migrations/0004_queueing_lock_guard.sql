-- Procrastinate's queueing-lock index covers only waiting ('todo') jobs. When a running job goes
-- back to 'todo' (a retry, or the rescue of a job stalled by a dead worker) while a follow-up
-- with the same queueing lock already waits, its UPDATE violates that index, and the job is left
-- in 'doing' for good. This guard settles the collision instead: the follow-up does the same
-- work, so the job going back is marked 'failed' (keeping its error and attempts) and the
-- follow-up runs. An advisory lock per queueing lock, taken by inserts too, serialises the check
-- with a concurrent defer, so no interleaving can slip past it.

CREATE FUNCTION stats_lock_queueing_lock(queueing_lock text) RETURNS void
LANGUAGE sql
AS $$
    SELECT pg_advisory_xact_lock(hashtextextended('procrastinate queueing lock ' || queueing_lock, 0))
$$;

CREATE FUNCTION stats_guard_job_insert() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM stats_lock_queueing_lock(NEW.queueing_lock);
    RETURN NEW;
END;
$$;

CREATE FUNCTION stats_guard_job_requeue() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM stats_lock_queueing_lock(NEW.queueing_lock);
    IF EXISTS (
        SELECT 1 FROM procrastinate_jobs
        WHERE queueing_lock = NEW.queueing_lock AND status = 'todo' AND id <> NEW.id
    ) THEN
        NEW.status := 'failed';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER stats_guard_job_insert
    BEFORE INSERT ON procrastinate_jobs
    FOR EACH ROW WHEN (NEW.queueing_lock IS NOT NULL)
    EXECUTE FUNCTION stats_guard_job_insert();

CREATE TRIGGER stats_guard_job_requeue
    BEFORE UPDATE OF status ON procrastinate_jobs
    FOR EACH ROW WHEN (
        OLD.status = 'doing' AND NEW.status = 'todo' AND NEW.queueing_lock IS NOT NULL
    )
    EXECUTE FUNCTION stats_guard_job_requeue();
