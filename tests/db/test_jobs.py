"""Enqueueing the stats jobs: transactional, deduplicated, and the queueing-lock guard."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import pytest
from django.db import connection, transaction
from django.utils import timezone
from procrastinate.contrib.django import app
from procrastinate.contrib.django.django_connector import DjangoConnector
from procrastinate.contrib.django.models import ProcrastinateJob
from procrastinate.exceptions import ConnectorException

from stats import jobs
from stats.models import Match
from stats.processes import wait_until
from stats.refresh import stats_behind_writes, stats_refresh
from stats.services import match_score_predictions, stats_sweep
from stats.tasks import rescue_stalled_jobs, sweep_stale_points
from tests.support.factories import (
    complete,
    kickoff_check_off,
    make_match,
    make_prediction,
    make_user,
    rolled_back,
)
from tests.support.jobs import insert_worker, jobs_of, set_job_status

pytestmark = pytest.mark.django_db

T = TypeVar("T")


def test_completing_a_match_queues_its_scoring_inside_the_transaction() -> None:
    """The job is visible inside the saving transaction, with the match's lock and arguments."""
    match = make_match()
    with transaction.atomic():
        complete(match, 2, 1)
        [job] = jobs_of(jobs.CALCULATE_POINTS, "todo")
    assert (job.args, job.lock, job.queueing_lock, job.queue_name) == (
        {"match_id": match.pk},
        f"match-scoring:{match.pk}",
        f"match-scoring:{match.pk}",
        "stats",
    )


def test_rolled_back_save_queues_nothing() -> None:
    """A save that rolls back takes its job with it."""
    match = make_match()
    with transaction.atomic():
        complete(match, 1, 1)
        transaction.set_rollback(True)
    assert jobs_of(jobs.CALCULATE_POINTS, "todo") == []


@pytest.mark.parametrize("status", [Match.Status.SCHEDULED, Match.Status.LIVE])
def test_unsettled_match_save_queues_nothing(status: str) -> None:
    """Only settled matches are scored."""
    match = make_match(status=status)
    match.save()
    assert jobs_of(jobs.CALCULATE_POINTS, "todo") == []


@pytest.mark.parametrize("status", [Match.Status.CANCELLED, Match.Status.POSTPONED])
def test_voiding_a_match_queues_its_scoring(status: str) -> None:
    """A void match is 'scored' too: its points are cleared."""
    match = make_match()
    match.status = status
    match.save()
    assert [job.args for job in jobs_of(jobs.CALCULATE_POINTS, "todo")] == [{"match_id": match.pk}]


def test_many_saves_in_one_transaction_leave_one_job_and_a_usable_transaction() -> None:
    """The duplicate enqueues are absorbed by a savepoint: the transaction keeps working."""
    match = make_match()
    with transaction.atomic():
        for home_score in range(5):
            complete(match, home_score, 0)
        assert Match.objects.get(pk=match.pk).home_score == 4
    assert len(jobs_of(jobs.CALCULATE_POINTS, "todo")) == 1


def test_refresh_triggers_while_one_waits_give_one_job() -> None:
    """A burst of triggers costs one refresh."""
    first = jobs.enqueue_stats_refresh(delay_seconds=60)
    assert first is not None
    assert [jobs.enqueue_stats_refresh(delay_seconds=60) for _ in range(5)] == [None] * 5
    assert [job.id for job in jobs_of(jobs.REFRESH_STATS_VIEWS, "todo")] == [first]


def test_refresh_trigger_while_one_runs_gives_exactly_one_follow_up() -> None:
    """The running refresh may have missed the trigger's writes, so one follow-up waits."""
    running = jobs.enqueue_stats_refresh(delay_seconds=0)
    assert running is not None
    set_job_status(running, "doing")
    follow_ups = [jobs.enqueue_stats_refresh(delay_seconds=60) for _ in range(3)]
    assert follow_ups[0] is not None
    assert follow_ups[1:] == [None, None]
    assert [job.id for job in jobs_of(jobs.REFRESH_STATS_VIEWS, "todo")] == [follow_ups[0]]


def test_refresh_now_queues_one_when_none_waits() -> None:
    """A cron trigger with nothing waiting queues a refresh due now."""
    request = jobs.request_stats_refresh_now()
    [job] = jobs_of(jobs.REFRESH_STATS_VIEWS, "todo")
    assert (request.status, request.job_id) == ("queued", job.id)
    assert job.scheduled_at is None


def test_refresh_now_reuses_a_due_refresh() -> None:
    """A second cron trigger finds the first one's job: no second refresh."""
    first = jobs.request_stats_refresh_now()
    second = jobs.request_stats_refresh_now()
    assert (second.status, second.job_id) == ("already_queued", first.job_id)
    assert len(jobs_of(jobs.REFRESH_STATS_VIEWS, "todo")) == 1


def test_refresh_now_brings_a_delayed_refresh_forward() -> None:
    """A delayed refresh is replaced by one due now, never joined by a second one."""
    delayed = jobs.enqueue_stats_refresh(delay_seconds=3600)
    request = jobs.request_stats_refresh_now()
    [job] = jobs_of(jobs.REFRESH_STATS_VIEWS, "todo")
    assert request.status == "queued"
    assert job.id == request.job_id != delayed
    assert job.scheduled_at is None


def retry_in_place(job_id: int) -> None:
    """What Procrastinate does to retry a job, or to rescue a stalled one."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT procrastinate_retry_job_v1(%s, now(), NULL, NULL, NULL)", [job_id])


def test_retry_goes_back_to_waiting_when_nothing_else_waits() -> None:
    """Without a follow-up, a retried job simply waits again."""
    job_id = jobs.enqueue_stats_refresh(delay_seconds=0)
    assert job_id is not None
    set_job_status(job_id, "doing")
    retry_in_place(job_id)
    assert ProcrastinateJob.objects.get(pk=job_id).status == "todo"


def test_retry_colliding_with_a_waiting_follow_up_is_settled_not_stuck() -> None:
    """Procrastinate alone raises a unique violation here and leaves the job 'doing' forever;
    the guard settles it cancelled instead, and the follow-up (which does the same work) waits."""
    job_id = jobs.enqueue_stats_refresh(delay_seconds=0)
    assert job_id is not None
    set_job_status(job_id, "doing")
    follow_up = jobs.enqueue_stats_refresh(delay_seconds=0)
    retry_in_place(job_id)
    assert ProcrastinateJob.objects.get(pk=job_id).status == "cancelled"
    assert [job.id for job in jobs_of(jobs.REFRESH_STATS_VIEWS, "todo")] == [follow_up]


def test_sweep_queues_scoring_for_a_match_completed_behind_the_signals_back() -> None:
    """A bulk update() fires no signal; the sweep finds the match by its missing points."""
    match = make_match()
    Match.objects.filter(pk=match.pk).update(
        status=Match.Status.COMPLETED, home_score=1, away_score=0
    )
    assert jobs_of(jobs.CALCULATE_POINTS, "todo") == []
    assert stats_sweep()["scoring_queued"] == 1
    assert [job.args for job in jobs_of(jobs.CALCULATE_POINTS, "todo")] == [{"match_id": match.pk}]


def test_sweep_leaves_a_match_whose_scoring_runs_now_to_that_job() -> None:
    """A minute's sweep that lands while a scoring job runs (its points not committed yet) queues
    no second one beside it; once no job runs, the sweep queues one again."""
    match = make_match()
    Match.objects.filter(pk=match.pk).update(
        status=Match.Status.COMPLETED, home_score=1, away_score=0
    )
    running = jobs.enqueue_match_scoring(match.pk)
    assert running is not None
    set_job_status(running, "doing")
    assert stats_sweep()["scoring_queued"] == 0
    assert jobs_of(jobs.CALCULATE_POINTS, "todo") == []
    set_job_status(running, "failed")
    assert stats_sweep()["scoring_queued"] == 1


def test_sweep_queues_a_refresh_when_a_write_is_not_refreshed_yet() -> None:
    """A change logged since the last refresh (here a new prediction, which its match's summary
    counts) means the statistics are behind; after a refresh they are not."""
    stats_refresh()
    assert stats_sweep()["refresh_queued"] == 0
    match = make_match()
    stats_refresh()
    make_prediction(make_user(), match, 1, 0)
    assert stats_sweep()["refresh_queued"] == 1
    [job] = jobs_of(jobs.REFRESH_STATS_VIEWS, "todo")
    assert job.scheduled_at is not None
    assert job.scheduled_at > timezone.now() + timedelta(seconds=30)


def test_sweep_trusts_a_refresh_that_started_after_the_writes() -> None:
    """A refresh running since after the newest change logged will consume it: no follow-up
    queued."""
    stats_refresh()
    make_match()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE stats_match_change SET logged_at = now() - interval '5 minutes'")
    assert stats_behind_writes()
    running = jobs.enqueue_stats_refresh(delay_seconds=0)
    assert running is not None
    set_job_status(running, "doing")  # Procrastinate's trigger records the 'started' event
    assert not stats_behind_writes()
    assert stats_sweep()["refresh_queued"] == 0


# --- What only worker tests used to guard ---------------------------------------------------------


def test_a_save_whose_enqueue_fails_leaves_no_saved_result() -> None:
    """Match.save() and its scoring job are one transaction: when the job cannot be written, the
    result is not saved either (no completed match that nothing will score)."""
    match = make_match()
    with rolled_back():
        with connection.cursor() as cursor:  # the queue refuses every job
            cursor.execute(
                "ALTER TABLE procrastinate_jobs ADD CONSTRAINT refuse_jobs CHECK (false) NOT VALID"
            )
        with pytest.raises(ConnectorException):
            complete(match, 2, 1)
        assert Match.objects.values_list("status", "home_score").get(pk=match.pk) == (
            Match.Status.SCHEDULED,
            None,
        )


@pytest.mark.django_db(transaction=True)
def test_a_save_inside_a_worker_rolls_back_with_its_job() -> None:
    """Inside a worker, Procrastinate's app talks to the database on a connection of its own; our
    enqueue still goes through Django's connection, so a save rolled back takes its job along."""
    match = make_match()
    worker_connector = DjangoConnector().get_worker_connector()  # as `procrastinate worker` does
    with app.replace_connector(worker_connector), app.open(), transaction.atomic():
        complete(match, 1, 0)
        transaction.set_rollback(True)
    assert ProcrastinateJob.objects.count() == 0


def _call_in_thread(call: Callable[[], T]) -> tuple[threading.Thread, list[T | BaseException]]:
    """Run `call` in a thread (so on a connection of its own); its result or error lands in the
    list."""
    outcome: list[T | BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as error:
            outcome.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_two_refresh_now_requests_on_two_connections_leave_one_job() -> None:
    """A second request that arrives while the first one's transaction is open waits for it
    (the advisory lock of the refresh's queueing lock), then finds its job: one job, both
    requests answered."""
    first_done, release = threading.Event(), threading.Event()

    def first_request() -> jobs.RefreshRequest:
        with transaction.atomic():
            request = jobs.request_stats_refresh_now()
            first_done.set()
            release.wait(timeout=20)
        return request

    first, first_outcome = _call_in_thread(first_request)
    try:
        assert first_done.wait(timeout=20)
        second, second_outcome = _call_in_thread(jobs.request_stats_refresh_now)
        wait_until(lambda: _waiting_on_a_lock() == 1, timeout=20, what="the second to wait")
    finally:
        release.set()
        first.join(timeout=20)
    second.join(timeout=20)
    [first_request_answer], [second_request_answer] = first_outcome, second_outcome
    assert isinstance(first_request_answer, jobs.RefreshRequest), first_request_answer
    assert isinstance(second_request_answer, jobs.RefreshRequest), second_request_answer
    [job] = jobs_of(jobs.REFRESH_STATS_VIEWS, "todo")
    assert (first_request_answer.status, first_request_answer.job_id) == ("queued", job.id)
    assert (second_request_answer.status, second_request_answer.job_id) == (
        "already_queued",
        job.id,
    )


# --- priorities -------------------------------------------------------------------------------


def waiting_priorities() -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for job in ProcrastinateJob.objects.filter(status="todo").order_by("id"):
        found.setdefault(job.task_name, []).append(job.priority)
    return found


def test_a_fresh_result_outranks_corrections_withdrawals_and_the_refresh() -> None:
    """First results: FRESH_RESULT. A correction, a void after a result, a withdrawn result,
    the sweep and a manual recalculation: RESCORING. The refresh: REFRESH, the lowest."""
    fresh, corrected, voided, withdrawn = (make_match() for _ in range(4))
    for match in (corrected, voided, withdrawn):
        Match.objects.filter(pk=match.pk).update(status="completed", home_score=1, away_score=0)
    complete(fresh, 2, 0)
    for match in (corrected, voided, withdrawn):
        match.refresh_from_db()
    complete(corrected, 2, 2)
    voided.status = Match.Status.POSTPONED
    voided.save()
    withdrawn.status, withdrawn.home_score, withdrawn.away_score = "live", 0, 0
    withdrawn.save()
    jobs.enqueue_stats_refresh(delay_seconds=0)
    assert [job.args["match_id"] for job in jobs_of(jobs.CALCULATE_POINTS, "todo")] == [
        fresh.pk,
        corrected.pk,
        voided.pk,
        withdrawn.pk,
    ]
    assert waiting_priorities() == {
        jobs.CALCULATE_POINTS: [jobs.Priority.FRESH_RESULT] + [jobs.Priority.RESCORING] * 3,
        jobs.REFRESH_STATS_VIEWS: [jobs.Priority.REFRESH],
    }
    assert jobs.Priority.FRESH_RESULT > jobs.Priority.RESCORING > jobs.Priority.REFRESH


def test_the_sweep_queues_rescoring_priority() -> None:
    """What the sweep finds is mended, not news: it waits behind fresh results (and the
    refresh it queues for the writes not refreshed yet, the lowest, behind both)."""
    match = make_match()
    Match.objects.filter(pk=match.pk).update(status="completed", home_score=1, away_score=0)
    stats_sweep()
    assert waiting_priorities() == {
        jobs.CALCULATE_POINTS: [jobs.Priority.RESCORING],
        jobs.REFRESH_STATS_VIEWS: [jobs.Priority.REFRESH],
    }


def test_saving_an_unchanged_result_queues_nothing() -> None:
    """A save that changes neither status nor score (a moved kickoff, say) has nothing to
    score; nor does a scheduled match going live."""
    match = make_match()
    complete(match, 1, 0)
    ProcrastinateJob.objects.all().delete()
    match.kickoff_at -= timedelta(hours=1)
    match.save()
    live = make_match()
    live.status = Match.Status.LIVE
    live.save()
    assert jobs_of(jobs.CALCULATE_POINTS, "todo") == []


@pytest.mark.parametrize(("status", "score"), [("scheduled", None), ("live", 1)])
def test_withdrawing_a_result_queues_its_clearing_in_the_transaction(
    status: str, score: int | None
) -> None:
    """A completed match saved back to scheduled or live queues calculate_points in the same
    transaction, which will clear its points."""
    match = make_match()
    complete(match, 1, 0)
    ProcrastinateJob.objects.all().delete()
    with transaction.atomic():
        match.status, match.home_score, match.away_score = status, score, score
        match.save()
        assert [job.args for job in jobs_of(jobs.CALCULATE_POINTS, "todo")] == [
            {"match_id": match.pk}
        ]


def test_sweep_queues_scoring_for_a_completed_match_with_an_unscored_prediction() -> None:
    """A prediction restored after its match was scored stays unscored until re-scored: the
    sweep finds it, though the match's own points look fresh."""
    match = make_match()
    make_prediction(make_user(), match, 1, 0)
    complete(match, 1, 0)
    match_score_predictions(match_id=match.pk)
    ProcrastinateJob.objects.all().delete()
    assert stats_sweep()["scoring_queued"] == 0
    with kickoff_check_off():
        make_prediction(make_user(), match, 1, 0)
    assert stats_sweep()["scoring_queued"] == 1
    assert [job.args for job in jobs_of(jobs.CALCULATE_POINTS, "todo")] == [{"match_id": match.pk}]
    match_score_predictions(match_id=match.pk)
    assert list(match.predictions.values_list("points", flat=True)) == [3, 3]
    ProcrastinateJob.objects.all().delete()
    assert stats_sweep()["scoring_queued"] == 0


def test_sweep_ignores_unscored_predictions_of_void_and_open_matches() -> None:
    """Void and scheduled matches keep NULL points by design: nothing to re-score."""
    void, open_match = make_match(), make_match()
    make_prediction(make_user(), void, 1, 0)
    make_prediction(make_user(), open_match, 1, 0)
    void.status = Match.Status.CANCELLED
    void.save()
    match_score_predictions(match_id=void.pk)
    ProcrastinateJob.objects.all().delete()
    assert stats_sweep()["scoring_queued"] == 0


# --- The rescue of a dead worker's jobs, inside the minute's sweep ------------------------------


def run_by(job_id: int, worker_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s WHERE id = %s",
            [worker_id, job_id],
        )


def test_the_sweep_rescues_the_jobs_of_a_worker_that_stopped_beating() -> None:
    """A job running on a worker whose heartbeat is older than STATS_STALLED_WORKER_TIMEOUT goes
    back to the queue; one running on a live worker, however long, is left alone."""
    dead, live = insert_worker(last_beat="45 seconds"), insert_worker(last_beat="5 seconds")
    first, second = make_match(), make_match()
    for match in (first, second):
        complete(match, 1, 0)
    [stalled, running] = [job.id for job in jobs_of(jobs.CALCULATE_POINTS, "todo")]
    run_by(stalled, dead)
    run_by(running, live)
    result = sweep_stale_points(timestamp=0)
    assert result["rescued_job_ids"] == [stalled]
    assert ProcrastinateJob.objects.get(pk=stalled).status == "todo"
    assert ProcrastinateJob.objects.get(pk=running).status == "doing"
    # Rescued before the sweep looked for stale points, so no follow-up collides with it; and
    # none for the match being scored on the live worker: that job is left to finish.
    assert result["scoring_queued"] == 0
    assert [job.args["match_id"] for job in jobs_of(jobs.CALCULATE_POINTS, "todo")] == [first.pk]
    assert sweep_stale_points(timestamp=0)["rescued_job_ids"] == []


def test_the_safety_nets_run_every_minute_and_hour_not_every_ten_seconds() -> None:
    """The rescue is part of the minute's sweep: no periodic job of its own every 10 s."""
    crons = {
        periodic.task.name: periodic.cron
        for periodic in app.periodic_registry.periodic_tasks.values()
    }
    assert crons == {
        "stats.tasks.sweep_stale_points": "* * * * *",
        "stats.tasks.prune_finished_jobs": "0 * * * *",
    }


def test_a_rescue_job_queued_by_the_previous_release_still_runs() -> None:
    """The old periodic rescue's task name stays registered (not periodic): a job of it waiting
    at the upgrade rescues instead of failing as an unknown task."""
    dead = insert_worker(last_beat="45 seconds")
    complete(make_match(), 1, 0)
    [stalled] = [job.id for job in jobs_of(jobs.CALCULATE_POINTS, "todo")]
    run_by(stalled, dead)
    assert "stats.tasks.rescue_stalled_jobs" in app.tasks
    assert rescue_stalled_jobs(timestamp=0) == {"rescued_job_ids": [stalled]}
