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

# Per-lock keys a transaction takes before it takes the guard's batch key instead.
GUARD_KEYS_PER_TRANSACTION = 256
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


def events_of(job_id: int) -> list[str]:
    """The job's history as Procrastinate records it, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT type FROM procrastinate_events WHERE job_id = %s ORDER BY id", [job_id]
        )
        return [row[0] for row in cursor.fetchall()]


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
    A transaction now takes per-lock keys for its first 256 defers, then the batch key once: a
    batch of 20,000 holds 257 advisory locks, and another session's defers go through while it
    is still uncommitted."""
    with connection.cursor() as cursor:
        cursor.execute(DEFER_BATCH, ["first-", BATCH])
        assert cursor.fetchone() == (BATCH,)
        assert advisory_locks_held(cursor) == GUARD_KEYS_PER_TRANSACTION + 1
        with psycopg.connect(**connector_params()) as other:
            other.execute("SET lock_timeout = '1s'")
            row = other.execute(DEFER_BATCH, ["second-", GUARD_KEYS_PER_TRANSACTION]).fetchone()
            assert row == (GUARD_KEYS_PER_TRANSACTION,)
            assert advisory_locks_held(other.cursor()) == GUARD_KEYS_PER_TRANSACTION
            other.rollback()


# --- Unrelated queueing locks -------------------------------------------------------------------

# Three queueing locks that 0007 folded into one of its 1024 keys (hashtext & 1023 = 31).
SAME_0007_KEY = ("cv-15", "cv-659", "cv-1227")


@pytest.mark.django_db(transaction=True)
def test_unrelated_queueing_locks_never_wait_on_each_other() -> None:
    """Under 0007, an open transaction that deferred 'cv-15' made the retry of a job locked
    'cv-659' wait for its commit (3.0 s in the report), and a defer of 'cv-1227' queued behind
    that retry. Each queueing lock now has its own key: neither waits (lock_timeout 1 s)."""
    deferred, retried, queued = SAME_0007_KEY
    running = defer(retried)
    set_job_status(running, "doing")
    with psycopg.connect(**connector_params()) as open_transaction:
        open_transaction.execute(DEFER_BATCH, [deferred.removesuffix("5"), 5])  # 'cv-15'
        with psycopg.connect(**connector_params(), autocommit=True) as other:
            other.execute("SET lock_timeout = '1s'")
            other.execute(
                "SELECT procrastinate_retry_job_v2(%s, now(), NULL, NULL, NULL)", [running]
            )
            other.execute(DEFER_BATCH, [queued.removesuffix("7"), 7])  # 'cv-1227'
        open_transaction.rollback()
    assert status_of(running) == ["todo"]
    assert ProcrastinateJob.objects.filter(queueing_lock=queued, status="todo").count() == 1


def bucket_mates(count: int, prefix: str) -> list[list[str]]:
    """`count` pairs of queueing locks, each pair sharing one of 0007's 1024 keys, the pairs on
    different keys."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT array_agg(name ORDER BY n)
            FROM (
                SELECT %s || n AS name, n, hashtext(%s || n) & 1023 AS key,
                       row_number() OVER (PARTITION BY hashtext(%s || n) & 1023 ORDER BY n) AS nth
                FROM generate_series(1, 20000) AS n
            ) AS names
            WHERE nth <= 2
            GROUP BY key
            HAVING count(*) = 2
            ORDER BY min(n)
            LIMIT %s
            """,
            [prefix, prefix, prefix, count],
        )
        return [row[0] for row in cursor.fetchall()]


REQUEUE = "UPDATE procrastinate_jobs SET status = 'todo' WHERE id = ANY(%s)"


@pytest.mark.django_db(transaction=True)
def test_a_batch_defer_and_a_requeue_of_unrelated_locks_do_not_deadlock() -> None:
    """The deadlock of the report, made certain: a requeue holds the key of 'a' and then wants
    the key of 'b2', while one batch defer holds the key of 'b1' and wants the key of 'a2'.
    Under 0007 'a'/'a2' and 'b1'/'b2' shared keys, so each waited for the other until PostgreSQL
    killed one (deadlock detected). Unrelated locks now share nothing: neither waits."""
    (a, a2), (b1, b2) = bucket_mates(2, "deadlock-")
    failed = {name: defer(name) for name in (a, b2)}
    for job_id in failed.values():
        set_job_status(job_id, "failed")
    outcome: list[BaseException | None] = []
    with psycopg.connect(**connector_params()) as requeue:
        requeue.execute(REQUEUE, [[failed[a]]])

        def batch() -> None:
            try:
                with psycopg.connect(**connector_params(), autocommit=True) as deferring:
                    deferring.execute(
                        "SELECT procrastinate_defer_jobs_v1(ARRAY["
                        "ROW('stats', 'tests.wait_for_follow_up', 0, NULL, %s, '{}'::jsonb, NULL),"
                        "ROW('stats', 'tests.wait_for_follow_up', 0, NULL, %s, '{}'::jsonb, NULL)"
                        "]::procrastinate_job_to_defer_v1[])",
                        [b1, a2],
                    )
                outcome.append(None)
            except BaseException as error:  # reported by the assert below
                outcome.append(error)

        thread = threading.Thread(target=batch)
        thread.start()
        thread.join(timeout=0.5)  # under 0007 it now waits for the requeue's key of 'a'
        requeue.execute("SET lock_timeout = '5s'")
        requeue.execute(REQUEUE, [[failed[b2]]])
        requeue.commit()
        thread.join(timeout=10)
    assert outcome == [None]
    assert status_of(failed[a], failed[b2]) == ["todo", "todo"]


def race(*statements: tuple[str, list[Any]], name: object) -> list[str]:
    """Run each statement on its own connection, all started together; the errors."""
    start, errors = threading.Barrier(len(statements)), []

    def run(statement: str, params: list[Any]) -> None:
        try:
            with psycopg.connect(**connector_params(), autocommit=True) as conn:
                conn.execute("SET lock_timeout = '10s'")
                start.wait(timeout=10)
                conn.execute(statement, params)
        except BaseException as error:  # reported by the caller
            errors.append(f"round {name}: {error!r}")

    threads = [threading.Thread(target=run, args=statement) for statement in statements]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.mark.django_db(transaction=True)
def test_one_statement_batch_defers_race_one_statement_bulk_requeues_without_deadlock() -> None:
    """The report's race, bounded: a one-statement batch of 3,000 defers against a
    one-statement requeue of 300 failed jobs, started together, 10 rounds (under 0007, 2 to 5
    rounds in 100 ended in a deadlock). Every round, both commit."""
    errors = []
    for round_number in range(10):
        failed = [defer(f"requeue-{round_number}-{n}") for n in range(300)]
        ProcrastinateJob.objects.filter(id__in=failed).update(status="failed")
        errors += race(
            (DEFER_BATCH, [f"batch-{round_number}-", 3000]), (REQUEUE, [failed]), name=round_number
        )
        assert set(status_of(*failed)) == {"todo"}
    assert errors == []


@pytest.mark.django_db(transaction=True)
def test_a_second_requeue_in_one_transaction_does_not_wait_for_a_defer_in_flight() -> None:
    """Only a transaction's first guard key is waited for: a later job going back while a defer
    of its very queueing lock is in flight fails at once with lock_not_available, and a message
    saying so, instead of waiting in a cycle a batch defer could close."""
    first, second = defer("requeue-first"), defer("requeue-1")
    ProcrastinateJob.objects.filter(id__in=[first, second]).update(status="failed")
    with psycopg.connect(**connector_params()) as deferring:
        deferring.execute("SET lock_timeout = '5s'")
        deferring.execute(DEFER_BATCH, ["requeue-", 1])  # in flight, uncommitted
        with psycopg.connect(**connector_params()) as requeue:
            requeue.execute("SET lock_timeout = '5s'")
            requeue.execute(REQUEUE, [[first]])
            with pytest.raises(psycopg.errors.LockNotAvailable) as refused:
                requeue.execute(REQUEUE, [[second]])
            requeue.rollback()
        deferring.rollback()
    assert "a defer with that queueing lock is in flight" in str(refused.value)


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
    history = events_of(failed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT procrastinate_retry_job_v2(%s, now(), NULL, NULL, NULL)", [failed])
    assert status_of(failed, follow_up) == ["cancelled", "todo"]
    assert errors_of(failed) == [superseded_by(follow_up, "manual")]
    assert events_of(failed) == [*history, "cancelled"]  # its history says how it ended


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
