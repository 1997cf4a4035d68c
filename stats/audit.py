"""From-scratch oracles: compare what the jobs did with what they should have done.

Used by tests, bench/ and operators alike.
"""

from __future__ import annotations

from django.db import connection

from stats.sql import load_sql


def overlapping_job_runs(*, task_name: str) -> int:
    """How many pairs of runs of `task_name` with the same arguments overlapped in time."""
    with connection.cursor() as cursor:
        cursor.execute(load_sql("overlapping_job_runs.sql"), {"task_name": task_name})
        return int(cursor.fetchone()[0])
