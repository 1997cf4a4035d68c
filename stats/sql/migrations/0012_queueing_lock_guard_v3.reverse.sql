-- Back to 0007's guard: drop this one (the migration then re-runs 0007's own script).
DROP TRIGGER stats_guard_queueing_lock ON procrastinate_jobs;
DROP FUNCTION stats_guard_queueing_lock();
DROP FUNCTION stats_share_queueing_lock(text);
DROP FUNCTION stats_lock_queueing_lock(text);
DROP FUNCTION stats_queueing_lock_keys_taken(integer);
