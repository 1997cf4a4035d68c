-- Pairs of runs of one task with the same arguments whose start-to-end spans overlap, from
-- Procrastinate's events: the audit that no job (or refresh, whose arguments are always empty)
-- ever ran twice at once.
WITH runs AS (
    SELECT j.args, started.at AS started_at, min(ended.at) AS ended_at
    FROM procrastinate_jobs AS j
    JOIN procrastinate_events AS started
        ON started.job_id = j.id AND started.type = 'started'
    JOIN procrastinate_events AS ended
        ON ended.job_id = j.id AND ended.at >= started.at
        AND ended.type IN ('succeeded', 'failed', 'deferred_for_retry')
    WHERE j.task_name = %(task_name)s
    GROUP BY j.id, started.id
)
SELECT count(*)
FROM runs AS a
JOIN runs AS b
    -- Procrastinate stamps each event with its transaction's start (now()): a fetch whose
    -- transaction began a moment before the previous run's end was stamped can look as if it
    -- overlapped by that moment (2.6 ms seen). A real overlap lasts a whole run.
    ON a.args = b.args AND a.started_at < b.started_at
    AND b.started_at < a.ended_at - interval '100 milliseconds'
