"""The pipeline end to end, with real worker processes on the test database."""

from __future__ import annotations

import random

import psycopg
import pytest
from procrastinate.contrib.django.models import ProcrastinateEvent, ProcrastinateJob
from procrastinate.contrib.django.utils import connector_params

from stats import jobs
from stats.audit import overlapping_job_runs, stats_all_right, stats_differences, wrong_points
from stats.models import JobError, Match, Prediction, UserTotal
from stats.processes import wait_until
from stats.relations import OVERALL
from stats.selectors import with_rank
from stats.services import match_score_predictions
from tests.support.factories import (
    complete,
    make_competition,
    make_match,
    make_prediction,
    make_user,
)
from tests.support.jobs import jobs_of
from tests.support.workers import Workers

pytestmark = [pytest.mark.worker, pytest.mark.timeout(120)]


def points_are_right(*matches: Match) -> bool:
    """Every prediction of these matches (all when none is named) scored from its latest result."""
    wrong = {prediction_id for prediction_id, _, _ in wrong_points().wrong}
    predictions = Prediction.objects.filter(match__in=matches) if matches else Prediction.objects
    return not predictions.filter(pk__in=wrong).exists()


def all_scored(*matches: Match) -> bool:
    return not Prediction.objects.filter(match__in=matches, points__isnull=True).exists()


def test_completed_match_is_scored_then_the_views_refreshed(workers: Workers) -> None:
    """Save a result; the worker scores it, then the delayed refresh fills the leaderboard."""
    workers.start()
    match = make_match()
    alice, bob = make_user("alice"), make_user("bob")
    make_prediction(alice, match, 2, 1)
    make_prediction(bob, match, 0, 0)
    complete(match, 2, 1)
    wait_until(lambda: UserTotal.objects.count() == 2, timeout=20, what="the leaderboard")
    assert list(
        with_rank(UserTotal.objects.all(), OVERALL).values_list(
            "user__username", "total_points", "rank"
        )
    ) == [
        ("alice", 3, 1),
        ("bob", 0, 2),
    ]


def test_a_burst_of_completions_costs_one_refresh(workers: Workers) -> None:
    """Fifteen results inside one refresh delay: fifteen scorings, one refresh."""
    workers.start(STATS_REFRESH_DELAY="4")
    user = make_user()
    matches = [make_match() for _ in range(15)]
    for match in matches:
        make_prediction(user, match, 1, 0)
    for match in matches:
        complete(match, 1, 0)
    wait_until(lambda: jobs_of(jobs.REFRESH_STATS_VIEWS, "succeeded"), timeout=30, what="a refresh")
    assert len(jobs_of(jobs.CALCULATE_POINTS, "succeeded")) == 15
    assert len(jobs_of(jobs.REFRESH_STATS_VIEWS)) == 1
    assert UserTotal.objects.get().total_points == 45


def started_order(*job_ids: int | None) -> list[int]:
    """The given jobs in the order the worker started them."""
    return list(
        ProcrastinateEvent.objects.filter(job_id__in=job_ids, type="started")
        .order_by("at", "id")
        .values_list("job_id", flat=True)
    )


def test_scorings_run_before_a_due_refresh_and_fresh_results_first(workers: Workers) -> None:
    """One worker running one job at a time. A refresh made due now, a correction, then four
    fresh results, all waiting: the four fresh scorings run first (in the order saved), then
    the correction, then the refresh, which ranks them all at once."""
    user = make_user()
    corrected, *fresh = [make_match() for _ in range(5)]
    for match in [corrected, *fresh]:
        make_prediction(user, match, 1, 0)
    Match.objects.filter(pk=corrected.pk).update(status="completed", home_score=1, away_score=0)
    match_score_predictions(match_id=corrected.pk)  # scored earlier, behind the queue's back

    refresh = jobs.request_stats_refresh_now().job_id
    corrected.refresh_from_db()
    corrected.away_score = 1
    corrected.save()
    for match in fresh:
        complete(match, 1, 0)
    [correction] = [job.id for job in jobs_of(jobs.CALCULATE_POINTS)[:1]]
    fresh_jobs = [job.id for job in jobs_of(jobs.CALCULATE_POINTS)[1:]]
    assert len(fresh_jobs) == 4

    workers.start(STATS_WORKER_CONCURRENCY="1")
    wait_until(
        lambda: ProcrastinateJob.objects.get(pk=refresh).status == "succeeded",
        timeout=30,
        what="the refresh",
    )
    assert started_order(refresh, correction, *fresh_jobs) == [*fresh_jobs, correction, refresh]
    # (The sweep may queue a later refresh of its own, within its slack; this one had them all.)
    assert UserTotal.objects.values_list("total_points", flat=True).get() == 4 * 3 + 0


def test_withdrawn_result_loses_its_points_on_the_boards(workers: Workers) -> None:
    """A completed, scored and ranked match taken back to scheduled: the job the save queues
    clears its points, and the next refresh drops them from the boards."""
    workers.start(STATS_REFRESH_DELAY="0")
    kept, withdrawn = make_match(), make_match()
    alice = make_user("alice")
    make_prediction(alice, kept, 1, 0)
    make_prediction(alice, withdrawn, 2, 2)
    complete(kept, 1, 0)
    complete(withdrawn, 2, 2)
    wait_until(
        lambda: UserTotal.objects.filter(total_points=6).exists(),
        timeout=30,
        what="both results on the board",
    )
    withdrawn.status, withdrawn.home_score, withdrawn.away_score = "scheduled", None, None
    withdrawn.save()
    wait_until(
        lambda: UserTotal.objects.filter(total_points=3).exists(),
        timeout=30,
        what="the withdrawn result to leave the board",
    )
    assert list(withdrawn.predictions.values_list("points", flat=True)) == [None]
    assert list(UserTotal.objects.values_list("predictions_scored", "exact_scores")) == [(1, 1)]
    assert not JobError.objects.exists()


def test_permanent_failure_fails_at_once_and_keeps_its_error(workers: Workers) -> None:
    """No retry can create a missing match: one attempt, failed, its error kept."""
    job_id = jobs.enqueue_match_scoring(987654)
    workers.start()
    wait_until(
        lambda: ProcrastinateJob.objects.get(pk=job_id).status == "failed",
        timeout=20,
        what="the job to fail",
    )
    assert ProcrastinateJob.objects.get(pk=job_id).attempts == 1  # counts the one run
    assert list(JobError.objects.values_list("job_id", "attempt", "error")) == [
        (job_id, 0, "MatchNotFound: match 987654 does not exist")
    ]


@pytest.mark.parametrize("task_fails", [False, True])
def test_enqueue_inside_a_running_task_commits_with_the_task(
    workers: Workers, task_fails: bool
) -> None:
    """A task that records a result queues scoring in its own transaction: if the task fails,
    neither the result nor the scoring job exists."""
    from procrastinate.contrib.django import app

    match = make_match()
    make_prediction(make_user(), match, 1, 1)
    app.configure_task("tests.record_result_then").defer(
        match_id=match.pk, home_score=1, away_score=1, fail=task_fails
    )
    workers.start()
    wait_until(
        lambda: jobs_of("tests.record_result_then")[0].status in {"succeeded", "failed"},
        timeout=20,
        what="the task to end",
    )
    if task_fails:
        match.refresh_from_db()
        assert (match.status, jobs_of(jobs.CALCULATE_POINTS)) == (Match.Status.SCHEDULED, [])
    else:
        wait_until(lambda: all_scored(match), timeout=20, what="the scoring")
        assert points_are_right(match)


def test_sweep_scores_a_match_completed_behind_the_signals_back(workers: Workers) -> None:
    """A bulk update() queues nothing; the periodic sweep finds and scores the match."""
    from procrastinate.contrib.django import app

    match = make_match()
    make_prediction(make_user(), match, 0, 2)
    Match.objects.filter(pk=match.pk).update(
        status=Match.Status.COMPLETED, home_score=0, away_score=1
    )
    workers.start()
    # The sweep runs every minute; run it now rather than wait for the clock.
    app.configure_task("stats.tasks.sweep_stale_points").defer(timestamp=0)
    wait_until(lambda: all_scored(match), timeout=20, what="the sweep's scoring")
    assert points_are_right(match)


def test_scoring_killed_mid_way_is_rescued_by_another_worker(workers: Workers) -> None:
    """SIGKILL a worker while it scores (blocked on the match row we hold); once its heartbeat
    is stale, the minute's sweep on another worker rescues the job, and the points are exact."""
    match = make_match()
    users = [make_user() for _ in range(20)]
    for user in users:
        make_prediction(user, match, random.randint(0, 3), random.randint(0, 3))
    [doomed] = workers.start()
    with psycopg.connect(**connector_params()) as blocker:
        complete(match, 2, 2)
        blocker.execute("SELECT 1 FROM stats_match WHERE id = %s FOR UPDATE", [match.pk])
        wait_until(
            lambda: jobs_of(jobs.CALCULATE_POINTS, "doing"), timeout=20, what="scoring to start"
        )
        workers.kill(doomed)
    workers.start()
    workers.sweep_once_stalled()
    wait_until(lambda: all_scored(match), timeout=60, what="the rescued scoring")
    assert points_are_right(match)
    # The killed job ends too: run again, or, when the sweep had queued a follow-up meanwhile,
    # settled cancelled by the queueing-lock guard while the follow-up did the work.
    killed = jobs_of(jobs.CALCULATE_POINTS)[0]
    wait_until(
        lambda: ProcrastinateJob.objects.get(pk=killed.id).status in {"succeeded", "cancelled"},
        timeout=20,
        what="the killed job to end",
    )
    # Nothing stays stuck in 'doing' (the sweep's follow-up, if any, may still be running).
    wait_until(
        lambda: not jobs_of(jobs.CALCULATE_POINTS, "doing"), timeout=20, what="no scoring left"
    )
    assert points_are_right(match)


def test_three_workers_score_a_matchday_without_overlap(workers: Workers) -> None:
    """Three workers, ten matches, every result saved twice: each match is scored one job at a
    time, and every prediction ends exactly right."""
    competition = make_competition()
    users = [make_user() for _ in range(30)]
    matches = [make_match(competition) for _ in range(10)]
    rng = random.Random(7)
    Prediction.objects.bulk_create(
        Prediction(
            user=user, match=match, home_score=rng.randint(0, 4), away_score=rng.randint(0, 4)
        )
        for user in users
        for match in matches
    )
    workers.start(3)
    results = [(rng.randint(0, 4), rng.randint(0, 4)) for _ in matches]
    for match, (home_score, away_score) in zip(matches, results, strict=True):
        complete(match, home_score, away_score)
    for match, (home_score, away_score) in zip(matches, results, strict=True):
        complete(match, home_score + 1, away_score)  # a correction, while the scorings run
    wait_until(lambda: points_are_right(*matches), timeout=60, what="the matchday")
    assert overlapping_job_runs(task_name=jobs.CALCULATE_POINTS) == 0
    assert len(jobs_of(jobs.CALCULATE_POINTS, "succeeded")) >= 10
    assert jobs_of(jobs.CALCULATE_POINTS, "failed") == []


@pytest.mark.parametrize("worker_count", [2, 3])
def test_workers_scoring_one_round_at_once_never_deadlock_nor_lose_an_update(
    workers: Workers, worker_count: int
) -> None:
    """Several workers score the matches of one round at the same moment, with corrections and
    voids in between and refreshes running beside them: no job fails (no deadlock, no lock
    timeout), and once the queue drains every relation equals its recomputation from scratch."""
    competition = make_competition()
    users = [make_user() for _ in range(40)]
    matches = [make_match(competition, round=1) for _ in range(8)]
    rng = random.Random(worker_count)
    Prediction.objects.bulk_create(
        Prediction(
            user=user, match=match, home_score=rng.randint(0, 3), away_score=rng.randint(0, 3)
        )
        for user in users
        for match in matches
    )
    workers.start(worker_count, STATS_REFRESH_DELAY="0", STATS_WORKER_CONCURRENCY="2")
    for match in matches:
        complete(match, rng.randint(0, 3), rng.randint(0, 3))
    for match in matches[::2]:
        complete(match, rng.randint(0, 3), rng.randint(0, 3))  # a correction
    for match in matches[1::3]:
        match.status = Match.Status.POSTPONED  # a void
        match.save()
    complete(matches[1], 2, 2)  # played after all

    def settled() -> bool:
        return (
            not ProcrastinateJob.objects.filter(
                task_name__in=(jobs.CALCULATE_POINTS, jobs.REFRESH_STATS_VIEWS),
                status__in=("todo", "doing"),
            ).exists()
            and not Match.objects.settled().with_stale_points().exists()
            and stats_all_right()
        )

    wait_until(settled, timeout=90, what="the round to be scored and ranked")
    assert JobError.objects.count() == 0
    assert jobs_of(jobs.CALCULATE_POINTS, "failed") == []
    assert jobs_of(jobs.REFRESH_STATS_VIEWS, "failed") == []
    assert overlapping_job_runs(task_name=jobs.REFRESH_STATS_VIEWS) == 0
    assert stats_differences() == []
