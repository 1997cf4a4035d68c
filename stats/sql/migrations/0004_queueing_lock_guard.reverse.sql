DROP TRIGGER stats_guard_job_requeue ON procrastinate_jobs;
DROP TRIGGER stats_guard_job_insert ON procrastinate_jobs;
DROP FUNCTION stats_guard_job_requeue();
DROP FUNCTION stats_guard_job_insert();
DROP FUNCTION stats_lock_queueing_lock(text);
