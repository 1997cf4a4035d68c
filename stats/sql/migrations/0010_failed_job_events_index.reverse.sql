DROP INDEX CONCURRENTLY IF EXISTS stats_failed_job_events_at;
