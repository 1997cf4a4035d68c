"""Bad task arguments reaching a real worker: each job fails on its first attempt with its reason
(the other doors for bad input: tests/acceptance/test_bad_input.py)."""

from __future__ import annotations

from typing import Any

import pytest
from procrastinate.contrib.django import app
from procrastinate.contrib.django.models import ProcrastinateJob

from stats import jobs
from stats.models import JobError, Prediction
from stats.processes import wait_until
from tests.support.factories import complete, make_match, make_prediction, make_user
from tests.support.workers import Workers


@pytest.mark.timeout(60)
def test_scoring_with_arguments_of_the_wrong_type_fails_at_once_with_the_reason(
    workers: Workers,
) -> None:
    """calculate_points with a string (numeric or not), a float, a bool, None, a list, a dict,
    or missing or extra arguments: each job fails on its first attempt (no retry can fix it),
    its error kept; a good job beside them still runs."""
    good = make_match()
    make_prediction(make_user(), good, 2, 0)
    deferrer = app.configure_task(jobs.CALCULATE_POINTS, queue=jobs.STATS_QUEUE)
    bad_arguments: list[dict[str, Any]] = [
        {"match_id": "abc"},
        {"match_id": str(good.pk)},
        {"match_id": good.pk + 0.9},
        {"match_id": True},
        {"match_id": None},
        {"match_id": [good.pk]},
        {"match_id": {"id": good.pk}},
        {},
        {"match_id": good.pk, "force": True},
    ]
    job_ids = [deferrer.defer(**arguments) for arguments in bad_arguments]
    workers.start()
    complete(good, 2, 0)
    wait_until(
        lambda: (
            ProcrastinateJob.objects.filter(pk__in=job_ids, status="failed").count() == len(job_ids)
        ),
        timeout=30,
        what="every bad job to fail",
    )
    assert set(
        ProcrastinateJob.objects.filter(pk__in=job_ids).values_list("attempts", flat=True)
    ) == {1}
    errors = dict(JobError.objects.filter(job_id__in=job_ids).values_list("job_id", "error"))
    assert [errors[job_id] for job_id in job_ids] == [
        *(
            f"TypeError: match_id must be an integer, not {arguments['match_id']!r}"
            for arguments in bad_arguments[:7]
        ),
        "TypeError: calculate_points() missing 1 required positional argument: 'match_id'",
        "TypeError: calculate_points() got an unexpected keyword argument 'force'",
    ]
    wait_until(
        lambda: not Prediction.objects.filter(match=good, points__isnull=True).exists(),
        timeout=20,
        what="the good job",
    )
