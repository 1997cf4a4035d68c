-- /metrics counts the jobs that failed in the last day at every scrape. Procrastinate indexes its
-- events by job only, so that count read every event (or every job); this small partial index
-- holds the failures alone, by time, so the count reads just the window's failures.
CREATE INDEX CONCURRENTLY IF NOT EXISTS stats_failed_job_events_at
    ON procrastinate_events (at) WHERE type = 'failed';
