-- The queueing-lock guard, third version (replaces 0007's functions and trigger; the migration
-- drops them first with 0007's own reverse script). docs/operations.md, "Upgrading
-- Procrastinate", says what it relies on upstream.
--
-- What the guard is for is unchanged (0007's header): a job going back to 'todo' (a worker's
-- retry, the rescue of a stalled job, a manual retry) while a follow-up with its queueing lock
-- waits is settled 'cancelled', with a JobError row naming the follow-up; defers take the lock's
-- key SHARED, a job going back takes it EXCLUSIVE, so its check sees every follow-up.
--
-- What changed from 0007, and why:
-- * No false sharing. 0007 folded every queueing lock into 1024 keys: an open transaction that
--   deferred 'cv-15' made a retry of an unrelated job locked 'cv-659' wait for its commit, and
--   a defer of 'cv-1227' queued behind that retry. Each queueing lock now has its own key, the
--   whole 32-bit hash of its name (two-key form: the first key is the guard's namespace).
-- * Bounded locks per transaction. A transaction takes per-lock keys for its first 256
--   queueing-locked defers; past that it takes the guard's batch key EXCLUSIVE once and no more
--   keys, so a batch of 20,000 defers holds 257 advisory locks (one key per lock ran the server
--   out of shared memory at 14,000: 0004). A job going back to 'todo' takes the batch key
--   SHARED after its own key, so it also waits for a big batch in flight; two big batches in
--   flight at once run one after the other.
-- * No deadlock between a batch defer and a bulk requeue. Only a transaction's first guard key
--   is waited for when going back to 'todo' (it holds no other key then, so nothing can wait on
--   it in turn); a later one in the same transaction is tried without waiting, and if a defer
--   of that very queueing lock is in flight the statement fails at once with lock_not_available
--   (55P03) and a message saying to run it again. A batch defer never waits on a requeue that
--   waits on it, whatever order either takes its rows in.
-- * A superseded job's history ends with a 'cancelled' event (Procrastinate's own trigger
--   records none for 'doing' or 'failed' to 'cancelled').
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
