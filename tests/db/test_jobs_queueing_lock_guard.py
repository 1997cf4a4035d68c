"""The queueing-lock guard (stats/sql/migrations/0007_queueing_lock_guard_v2.sql), exercised where
Procrastinate's own suite never goes: a job going back to 'todo' (a worker's retry, the rescue of a
stalled job, a manual retry) while a follow-up with its queueing lock waits; batches of thousands
of queueing-locked jobs in one transaction; an upstream migration that changes the status column.

A superseded job is settled 'cancelled' (its follow-up does its work) and the follow-up's id is
recorded in `JobError`; a real failure stays 'failed'.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.urls import reverse
from procrastinate.contrib.django.models import ProcrastinateJob
from procrastinate.contrib.django.utils import connector_params

from stats.models import JobError
from stats.processes import wait_until
from tests.support.factories import make_user, rolled_back
from tests.support.jobs import set_job_status
from tests.support.worker_tasks import wait_for_follow_up
from tests.support.workers import Workers

# At most this many advisory locks per transaction, whatever it defers (the guard's key space).
GUARD_LOCK_BUCKETS = 1024
BATCH = 20_000


def defer(queueing_lock: str, then: str = "return") -> int:
    """A job of the test task with `queueing_lock` as its lock and queueing lock, as stats.jobs
    defers its own jobs."""
    return int(
        wait_for_follow_up.configure(lock=queueing_lock, queueing_lock=queueing_lock).defer(
            then=then
        )
    )


def status_of(*job_ids: int) -> list[str]:
    found = dict(ProcrastinateJob.objects.filter(id__in=job_ids).values_list("id", "status"))
    return [found[job_id] for job_id in job_ids]


def errors_of(job_id: int) -> list[str]:
    return list(
        JobError.objects.filter(job_id=job_id).order_by("id").values_list("error", flat=True)
    )


def superseded_by(follow_up: int, queueing_lock: str) -> str:
    return (
        f"Superseded by job #{follow_up}, which waits with the same queueing lock"
        f" ({queueing_lock}) and does this job's work"
    )


def advisory_locks_held(cursor: Any) -> int:
    cursor.execute(
        "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'"
    )
    return int(cursor.fetchone()[0])


DEFER_BATCH = """
    SELECT cardinality(procrastinate_defer_jobs_v1(ARRAY(
        SELECT ROW('stats', 'tests.wait_for_follow_up', 0, NULL, %s || g, '{}'::jsonb, NULL)
               ::procrastinate_job_to_defer_v1
        FROM generate_series(1, %s) AS g
    )))
"""


# --- Many queueing locks in one transaction ----------------------------------------------------


@pytest.mark.django_db
def test_a_batch_of_20000_queueing_locks_holds_a_bounded_number_of_advisory_locks() -> None:
    """0004 took one advisory lock per queueing lock until commit: on default settings a batch
    of 14,000 ran the server's shared lock table out ('out of shared memory'), for every session.
    The guard's locks now come from a fixed key space, and are shared between defers: a second
    session defers another 20,000 while the first batch is still uncommitted."""
    with connection.cursor() as cursor:
        cursor.execute(DEFER_BATCH, ["first-", BATCH])
        assert cursor.fetchone() == (BATCH,)
        assert advisory_locks_held(cursor) == GUARD_LOCK_BUCKETS
        with psycopg.connect(**connector_params()) as other:
            row = other.execute(DEFER_BATCH, ["second-", BATCH]).fetchone()
            assert row == (BATCH,)
            assert advisory_locks_held(other.cursor()) == GUARD_LOCK_BUCKETS
            other.rollback()


# --- An upstream migration that changes the status column --------------------------------------


STATUS_COLUMN_DEPENDENTS = """
    SELECT t.tgname, pg_get_triggerdef(t.oid)
    FROM pg_depend d
    JOIN pg_trigger t ON d.classid = 'pg_trigger'::regclass AND d.objid = t.oid
    JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    WHERE d.refobjid = 'procrastinate_jobs'::regclass AND a.attname = 'status'
    ORDER BY t.tgname
"""


@pytest.mark.django_db
def test_a_type_change_of_the_status_column_goes_through() -> None:
    """Procrastinate's 03.00.00_50 migration drops its own triggers that name the status column,
    changes the column's type and re-creates them: with 0004's `UPDATE OF status ... WHEN`
    trigger installed that aborted with 'cannot alter type of a column used in a trigger
    definition'. The guard's triggers now name no column, so such a migration goes through."""
    with rolled_back(), connection.cursor() as cursor:
        cursor.execute(STATUS_COLUMN_DEPENDENTS)
        before = cursor.fetchall()
        upstream = [
            (name, definition) for name, definition in before if name.startswith("procrastinate_")
        ]
        for name, _ in upstream:
            cursor.execute(f"DROP TRIGGER {name} ON procrastinate_jobs")
        cursor.execute(
            "ALTER TABLE procrastinate_jobs ALTER COLUMN status TYPE procrastinate_job_status"
            " USING status::text::procrastinate_job_status"
        )
        for _, definition in upstream:
            cursor.execute(definition)
        cursor.execute(STATUS_COLUMN_DEPENDENTS)
        assert cursor.fetchall() == before == upstream


# --- Going back to 'todo' while a follow-up waits ----------------------------------------------


@pytest.mark.django_db
def test_a_manual_retry_colliding_with_a_follow_up_is_settled_cancelled() -> None:
    """`procrastinate_retry_job_v2` (the shell's and the admin's retry) moves 'failed' to 'todo'.
    With a follow-up waiting, 0004 let it raise the queueing lock's unique violation."""
    failed = defer("manual")
    set_job_status(failed, "failed")
    follow_up = defer("manual")
    with connection.cursor() as cursor:
        cursor.execute("SELECT procrastinate_retry_job_v2(%s, now(), NULL, NULL, NULL)", [failed])
    assert status_of(failed, follow_up) == ["cancelled", "todo"]
    assert errors_of(failed) == [superseded_by(follow_up, "manual")]


@pytest.mark.django_db
def test_a_retry_with_nothing_waiting_goes_back_to_the_queue() -> None:
    """The guard settles collisions only: alone, a retried job waits again, and no record."""
    job = defer("alone")
    set_job_status(job, "doing")
    with connection.cursor() as cursor:
        cursor.execute("SELECT procrastinate_retry_job_v2(%s, now(), NULL, NULL, NULL)", [job])
    assert status_of(job) == ["todo"]
    assert errors_of(job) == []


def retry_waits_on_the_guard() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory' AND query LIKE %s",
            ["%procrastinate_retry_job_v2%"],
        )
        return bool(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_a_retry_waits_for_a_follow_up_being_deferred_then_settles() -> None:
    """The race the advisory lock closes: the follow-up's insert is in flight (uncommitted, so
    invisible to the retry's check). The retry waits for it, then sees it and settles, instead
    of hitting the unique index once it commits."""
    running = defer("race1")
    set_job_status(running, "doing")
    with psycopg.connect(**connector_params()) as other:
        other.execute(DEFER_BATCH, ["race", 1])  # queueing lock 'race' || 1
        outcome: list[BaseException | None] = []

        def retry() -> None:
            try:
                with psycopg.connect(**connector_params(), autocommit=True) as retrying:
                    retrying.execute(
                        "SELECT procrastinate_retry_job_v2(%s, now(), NULL, NULL, NULL)", [running]
                    )
                outcome.append(None)
            except BaseException as error:  # reported by the assert below
                outcome.append(error)

        thread = threading.Thread(target=retry)
        thread.start()
        wait_until(retry_waits_on_the_guard, timeout=10, what="the retry to wait for the defer")
        assert outcome == []
        other.commit()
        thread.join(timeout=10)
    assert outcome == [None]
    [follow_up] = ProcrastinateJob.objects.filter(queueing_lock="race1", status="todo")
    assert status_of(running) == ["cancelled"]
    assert errors_of(running) == [superseded_by(follow_up.id, "race1")]


# --- With real workers -------------------------------------------------------------------------


@pytest.mark.worker
def test_a_worker_retrying_a_job_while_its_follow_up_waits(workers: Workers) -> None:
    """A job fails with a transient error while a follow-up with its queueing lock waits: the
    worker's retry is settled 'cancelled' (0004 marked it 'failed', a false alarm), the failure
    and the supersession are both recorded, and the follow-up runs."""
    workers.start()
    first = defer("worker-retry", then="fail")
    wait_until(lambda: status_of(first) == ["doing"], timeout=30, what="the first job to start")
    follow_up = defer("worker-retry")
    wait_until(
        lambda: status_of(first, follow_up) == ["cancelled", "succeeded"],
        timeout=30,
        what="the retry to be settled and the follow-up to run",
    )
    assert errors_of(first) == [
        f"OperationalError: job {first} fails once its follow-up waits",
        superseded_by(follow_up, "worker-retry"),
    ]
    assert not ProcrastinateJob.objects.filter(status="failed").exists()


@pytest.mark.worker
def test_the_rescue_of_a_stalled_job_while_its_follow_up_waits(workers: Workers) -> None:
    """A worker dies while running a job whose follow-up waits (kept back by the job's lock):
    the rescue on another worker settles the stalled job 'cancelled', and the follow-up runs."""
    [doomed] = workers.start()
    stalled = defer("rescue", then="hang")
    wait_until(lambda: status_of(stalled) == ["doing"], timeout=30, what="the job to start")
    follow_up = defer("rescue")
    workers.kill(doomed)
    workers.start()
    wait_until(
        lambda: status_of(stalled, follow_up) == ["cancelled", "succeeded"],
        timeout=60,
        what="the rescue to settle the stalled job and the follow-up to run",
    )
    assert errors_of(stalled) == [superseded_by(follow_up, "rescue")]


# --- The job admin -----------------------------------------------------------------------------


def post_action(client: Client, action: str, *job_ids: int) -> Any:
    return client.post(
        reverse("admin:procrastinate_procrastinatejob_changelist"),
        {"action": action, "_selected_action": [str(job_id) for job_id in job_ids]},
    )


@pytest.mark.django_db
def test_the_admin_refuses_to_retry_a_job_whose_follow_up_waits(admin_client: Client) -> None:
    """The manual retry of a failed job whose follow-up already waits: refused with a message
    naming that follow-up (the failure stays visible); 0004 answered 500 here. A failed job
    with nothing waiting is retried in the same action."""
    superseded = defer("admin-retry")
    set_job_status(superseded, "failed")
    follow_up = defer("admin-retry")
    alone = defer("admin-alone")
    set_job_status(alone, "failed")
    response = post_action(admin_client, "retry", superseded, alone)
    assert response.status_code == 302
    assert [str(message) for message in get_messages(response.wsgi_request)] == [
        f"Job #{superseded} not retried: job #{follow_up} already waits with the same queueing"
        " lock (admin-retry) and will do its work.",
        "1 job retried.",
    ]
    assert status_of(superseded, follow_up, alone) == ["failed", "todo", "todo"]


@pytest.mark.django_db
def test_the_job_page_shows_what_superseded_a_job(admin_client: Client) -> None:
    failed = defer("page")
    set_job_status(failed, "failed")
    follow_up = defer("page")
    with connection.cursor() as cursor:
        cursor.execute("SELECT procrastinate_retry_job_v2(%s, now(), NULL, NULL, NULL)", [failed])
    page = admin_client.get(reverse("admin:procrastinate_procrastinatejob_change", args=[failed]))
    assert superseded_by(follow_up, "page").replace("'", "&#x27;").encode() in page.content


def staff_with(*codenames: str) -> Client:
    user = make_user(is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="procrastinate", codename__in=codenames)
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_view_only_staff_cannot_cancel_abort_or_retry_jobs() -> None:
    """Upstream's actions need no permission: a view-only user cancelled jobs."""
    viewer = staff_with("view_procrastinatejob")
    waiting = defer("viewer")
    page = viewer.get(reverse("admin:procrastinate_procrastinatejob_changelist"))
    assert page.status_code == 200
    assert [b'value="retry"' in page.content, b'value="cancel"' in page.content] == [False, False]
    answers = [post_action(viewer, action, waiting) for action in ("cancel", "abort")]
    set_job_status(waiting, "failed")
    answers.append(post_action(viewer, "retry", waiting))
    assert [answer.status_code for answer in answers] == [200] * 3  # the list; no action ran
    assert status_of(waiting) == ["failed"]


@pytest.mark.django_db
def test_staff_with_the_change_permission_can_cancel_jobs() -> None:
    operator = staff_with("view_procrastinatejob", "change_procrastinatejob")
    waiting = defer("operator")
    page = operator.get(reverse("admin:procrastinate_procrastinatejob_changelist"))
    assert [b'value="retry"' in page.content, b'value="abort"' in page.content] == [True, True]
    post_action(operator, "cancel", waiting)
    assert status_of(waiting) == ["cancelled"]
