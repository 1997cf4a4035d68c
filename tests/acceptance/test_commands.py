"""The operator's commands: `refresh_stats`, `rebuild_stats` and `stats_status`, by their exact
output."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from stats.models import UserTotal, ViewRefresh
from stats.refresh import stats_refresh
from tests.support.factories import (
    settle_without_points,
)
from tests.support.jobs import insert_job, insert_worker
from tests.support.leagues import one_scored_match

pytestmark = pytest.mark.django_db

# Each relation's step of a refresh and of a rebuild, in order, each with its duration.
RELATION_STEP_LINES = (
    r"stats_round_total +\d+ ms\n"
    r"stats_round_count +\d+ ms\n"
    r"stats_competition_total +\d+ ms\n"
    r"stats_competition_count +\d+ ms\n"
    r"stats_group_competition_member +\d+ ms\n"
    r"stats_group_competition_count +\d+ ms\n"
    r"stats_user_total +\d+ ms\n"
    r"stats_overall_count +\d+ ms\n"
    r"stats_group_overall_member +\d+ ms\n"
    r"stats_group_overall_count +\d+ ms\n"
    r"stats_latest_round +\d+ ms\n"
    r"stats_competition_previous_count +\d+ ms\n"
    r"stats_group_competition_previous_count +\d+ ms\n"
    r"stats_overall_previous_count +\d+ ms\n"
    r"stats_group_overall_previous_count +\d+ ms\n"
    r"stats_match_summary +\d+ ms\n"
    r"stats_round_rank +\d+ ms\n"
    r"stats_competition_rank +\d+ ms\n"
    r"stats_overall_rank +\d+ ms\n"
    r"stats_competition_previous_rank +\d+ ms\n"
    r"stats_overall_previous_rank +\d+ ms\n"
)
# A refresh names its path first (by difference: it consumes the change log); a rebuild recounts.
REFRESH_STEP_LINES = (
    r"path: by difference +\d+ ms\n"
    r"changes consumed +\d+ ms\n"
    r"differences +\d+ ms\n" + RELATION_STEP_LINES
)
REBUILD_STEP_LINES = r"path: recount +\d+ ms\n" r"differences +\d+ ms\n" + RELATION_STEP_LINES


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def test_refresh_stats_refreshes_every_relation_and_prints_each_duration() -> None:
    """One line per step with its duration in ms, in refresh order, then the total."""
    match = one_scored_match(refreshed=False)

    output = run("refresh_stats")

    assert re.fullmatch(
        REFRESH_STEP_LINES + r"statistics refreshed in \d+ ms\n",
        output,
    ), output
    assert list(UserTotal.objects.values_list("user_id", "total_points")) == [
        (match.predictions.get().user_id, 3)
    ]
    assert ViewRefresh.objects.count() == 21


def test_refresh_stats_shows_each_step_once(caplog: pytest.LogCaptureFixture) -> None:
    """At a terminal the command's lines and the log's (stderr) show together: each step
    appears once in all of them, its printed line; the refresh's own INFO log lines (which the
    worker's log keeps) are not repeated beside it. Before: every step twice."""
    one_scored_match(refreshed=False)

    with caplog.at_level(logging.INFO):
        output = run("refresh_stats")

    shown = output + "".join(f"{record.getMessage()}\n" for record in caplog.records)
    steps = re.findall(r"^(\S+(?: \S+)*?)  +\d+ ms$", output, flags=re.MULTILINE)
    assert steps, output
    for step in steps:
        assert shown.count(step) == 1, shown


def test_stats_status_of_an_empty_league() -> None:
    """Every status listed with a zero, nothing waiting, no view refreshed yet."""
    assert run("stats_status") == (
        "Jobs by status:\n"
        "  todo       0 jobs\n"
        "  doing      0 jobs\n"
        "  succeeded  0 jobs\n"
        "  failed     0 jobs\n"
        "  cancelled  0 jobs\n"
        "  aborted    0 jobs\n"
        "Jobs by task:\n"
        "  (no jobs)\n"
        "Live workers: 0 (heartbeat within 8 s)\n"
        "Oldest waiting due job: none\n"
        "Failed jobs in the last day: 0 jobs\n"
        "Matches with stale points: 0 matches, oldest none\n"
        "Statistics:\n"
        "  stats_round_total                       never refreshed\n"
        "  stats_round_count                       never refreshed\n"
        "  stats_competition_total                 never refreshed\n"
        "  stats_competition_count                 never refreshed\n"
        "  stats_group_competition_member          never refreshed\n"
        "  stats_group_competition_count           never refreshed\n"
        "  stats_user_total                        never refreshed\n"
        "  stats_overall_count                     never refreshed\n"
        "  stats_group_overall_member              never refreshed\n"
        "  stats_group_overall_count               never refreshed\n"
        "  stats_latest_round                      never refreshed\n"
        "  stats_competition_previous_count        never refreshed\n"
        "  stats_group_competition_previous_count  never refreshed\n"
        "  stats_overall_previous_count            never refreshed\n"
        "  stats_group_overall_previous_count      never refreshed\n"
        "  stats_match_summary                     never refreshed\n"
        "  stats_round_rank                        never refreshed\n"
        "  stats_competition_rank                  never refreshed\n"
        "  stats_overall_rank                      never refreshed\n"
        "  stats_competition_previous_rank         never refreshed\n"
        "  stats_overall_previous_rank             never refreshed\n"
    )


def test_stats_status_reports_the_queue_and_freshness() -> None:
    """Counts by status and by task, the oldest due job, recent failures, stale matches, and each
    view's last refresh with its age and duration; every number with its unit."""
    insert_job(scheduled="-10 minutes")
    insert_job(scheduled="+1 minute")
    insert_job("stats.tasks.calculate_points", status="doing")
    insert_job("stats.tasks.calculate_points", status="failed")
    insert_worker(last_beat="5 seconds")
    insert_worker(last_beat="31 seconds")  # died: its heartbeat is past the stall timeout
    settle_without_points(ago=timedelta(minutes=20))
    stats_refresh()

    output = run("stats_status")

    when = r"refreshed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, \d+ s ago, took \d+ ms"
    assert re.fullmatch(
        "Jobs by status:\n"
        "  todo       2 jobs\n"
        "  doing      1 job\n"
        "  succeeded  0 jobs\n"
        "  failed     1 job\n"
        "  cancelled  0 jobs\n"
        "  aborted    0 jobs\n"
        "Jobs by task:\n"
        "  stats.tasks.calculate_points     doing      1 job\n"
        "  stats.tasks.calculate_points     failed     1 job\n"
        "  stats.tasks.refresh_stats_views  todo       2 jobs\n"
        r"Live workers: 1 \(heartbeat within 8 s\)\n"
        r"Oldest waiting due job: 6\d\d s\n"
        "Failed jobs in the last day: 1 job\n"
        r"Matches with stale points: 1 match, oldest 12\d\d s\n"
        "Statistics:\n"
        f"  stats_round_total                       {when}\n"
        f"  stats_round_count                       {when}\n"
        f"  stats_competition_total                 {when}\n"
        f"  stats_competition_count                 {when}\n"
        f"  stats_group_competition_member          {when}\n"
        f"  stats_group_competition_count           {when}\n"
        f"  stats_user_total                        {when}\n"
        f"  stats_overall_count                     {when}\n"
        f"  stats_group_overall_member              {when}\n"
        f"  stats_group_overall_count               {when}\n"
        f"  stats_latest_round                      {when}\n"
        f"  stats_competition_previous_count        {when}\n"
        f"  stats_group_competition_previous_count  {when}\n"
        f"  stats_overall_previous_count            {when}\n"
        f"  stats_group_overall_previous_count      {when}\n"
        f"  stats_match_summary                     {when}\n"
        f"  stats_round_rank                        {when}\n"
        f"  stats_competition_rank                  {when}\n"
        f"  stats_overall_rank                      {when}\n"
        f"  stats_competition_previous_rank         {when}\n"
        f"  stats_overall_previous_rank             {when}\n",
        output,
    ), output


def test_rebuild_stats_prints_each_step_and_check_says_all_is_right() -> None:
    """rebuild_stats: one line per step with its duration, then the total; --check: each
    relation's rows and differences, then the verdict, exit 0."""
    user_id = one_scored_match(refreshed=False).predictions.get().user_id

    assert re.fullmatch(
        REBUILD_STEP_LINES + r"statistics rebuilt in \d+ ms\n",
        run("rebuild_stats"),
    )
    assert list(UserTotal.objects.values_list("user_id", "total_points")) == [(user_id, 3)]
    assert re.fullmatch(
        r"stats_round_total +1 rows +0 differ\n"
        r"stats_round_count +1 rows +0 differ\n"
        r"stats_competition_total +1 rows +0 differ\n"
        r"stats_competition_count +1 rows +0 differ\n"
        r"stats_group_competition_member +0 rows +0 differ\n"
        r"stats_group_competition_count +0 rows +0 differ\n"
        r"stats_user_total +1 rows +0 differ\n"
        r"stats_overall_count +1 rows +0 differ\n"
        r"stats_group_overall_member +0 rows +0 differ\n"
        r"stats_group_overall_count +0 rows +0 differ\n"
        r"stats_latest_round +1 rows +0 differ\n"
        r"stats_competition_previous_count +0 rows +0 differ\n"
        r"stats_group_competition_previous_count +0 rows +0 differ\n"
        r"stats_overall_previous_count +0 rows +0 differ\n"
        r"stats_group_overall_previous_count +0 rows +0 differ\n"
        r"stats_match_summary +1 rows +0 differ\n"
        r"stats_round_rank +1 rows +0 differ\n"
        r"stats_competition_rank +1 rows +0 differ\n"
        r"stats_overall_rank +1 rows +0 differ\n"
        r"stats_competition_previous_rank +0 rows +0 differ\n"
        r"stats_overall_previous_rank +0 rows +0 differ\n"
        r"points +1 rows +0 differ\n"
        r"every statistic matches its recomputation \(\d+ ms\)\n",
        run("rebuild_stats", "--check"),
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("unreachable_database")
def test_stats_status_says_the_database_is_unreachable() -> None:
    """No traceback: one line naming the server that was tried (an operator's terminal), and
    a non-zero exit."""
    with pytest.raises(CommandError, match=r"^database unreachable: .*127\.0\.0\.1:9"):
        run("stats_status")
