"""The admin: open to staff only, read-only where the pipeline writes, actions that act."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from procrastinate.contrib.django.models import ProcrastinateJob

from stats import jobs
from stats.models import JobError, Match, ViewRefresh
from tests.support.admin_pages import CHANGELISTS, READ_ONLY
from tests.support.factories import complete, make_match
from tests.support.leagues import one_scored_match

pytestmark = pytest.mark.django_db


@pytest.fixture
def league() -> Match:
    """A scored, refreshed match (its scoring job still listed), so every page has rows to
    show; and one recorded job error."""
    match = one_scored_match(username="alice", score=(2, 0))
    JobError.objects.create(
        job_id=1, task_name=jobs.CALCULATE_POINTS, attempt=0, error="E", traceback="T"
    )
    return match


@pytest.mark.parametrize("changelist", CHANGELISTS)
def test_every_page_opens_for_staff(admin_client: Client, league: Match, changelist: str) -> None:
    """Changelists answer 200 and list rows: counted, and each linked to its own page."""
    response = admin_client.get(reverse(f"admin:{changelist}_changelist"))
    assert response.status_code == 200
    changelist_view = response.context["cl"]
    rows = list(changelist_view.result_list)
    assert len(rows) == changelist_view.result_count >= 1
    for row in rows:
        assert f'href="{changelist_view.url_for_result(row)}"'.encode() in response.content


# Non-staff visitors of these pages: tests/acceptance/test_security.py.


@pytest.mark.parametrize("changelist", READ_ONLY)
def test_pipeline_rows_cannot_be_added_here(admin_client: Client, changelist: str) -> None:
    """The views and the refresh log are written by the pipeline only."""
    assert admin_client.get(reverse(f"admin:{changelist}_add")).status_code == 403


def test_match_page_shows_its_scoring_jobs(admin_client: Client) -> None:
    """During an incident: which jobs scored this match, and how they ended."""
    match = complete(make_match(), 1, 0)
    [job] = ProcrastinateJob.objects.filter(task_name=jobs.CALCULATE_POINTS)
    response = admin_client.get(reverse("admin:stats_match_change", args=[match.pk]))
    assert f"#{job.id}</a> todo (0 attempts)".encode() in response.content


def test_points_filter_finds_stale_matches(admin_client: Client, league: Match) -> None:
    """A settled match without points is listed as stale; the scored one is not."""
    stale = make_match()
    Match.objects.filter(pk=stale.pk).update(status="completed", home_score=0, away_score=0)
    response = admin_client.get(reverse("admin:stats_match_changelist") + "?points=stale")
    assert list(response.context["cl"].queryset) == [stale]


def test_recalculate_action_queues_scoring_for_settled_matches(admin_client: Client) -> None:
    """Settled matches get a job; unsettled ones are skipped and said so."""
    settled = make_match()
    Match.objects.filter(pk=settled.pk).update(status="completed", home_score=1, away_score=1)
    scheduled = make_match()
    response = admin_client.post(
        reverse("admin:stats_match_changelist"),
        {"action": "recalculate_points", "_selected_action": [settled.pk, scheduled.pk]},
        follow=True,
    )
    assert [job.args for job in ProcrastinateJob.objects.all()] == [{"match_id": settled.pk}]
    assert "1 scoring job(s) queued; 0 already waiting; 1 unsettled match(es) skipped." in [
        str(message) for message in response.context["messages"]
    ]


def test_void_action_cancels_and_queues_the_clearing(admin_client: Client, league: Match) -> None:
    """Voiding is a save: the match is cancelled and its points-clearing job queued with it."""
    admin_client.post(
        reverse("admin:stats_match_changelist"),
        {"action": "void_matches", "_selected_action": [league.pk]},
    )
    league.refresh_from_db()
    assert league.status == Match.Status.CANCELLED
    assert [job.args for job in ProcrastinateJob.objects.filter(status="todo")] == [
        {"match_id": league.pk}
    ]


def test_refresh_now_button_queues_one_refresh(admin_client: Client) -> None:
    """The button on the refresh log queues a refresh due now; pressing twice queues one."""
    url = reverse("admin:stats_viewrefresh_refresh_now")
    assert (
        b"Refresh stats now"
        in admin_client.get(reverse("admin:stats_viewrefresh_changelist")).content
    )
    admin_client.post(url)
    admin_client.post(url)
    assert ProcrastinateJob.objects.filter(task_name=jobs.REFRESH_STATS_VIEWS).count() == 1
    assert admin_client.get(url).status_code == 405


def test_invalid_scores_in_the_match_form_are_form_errors(admin_client: Client) -> None:
    """A negative score or a completed match without a score is refused with a message."""
    match = make_match()
    data = {
        "competition": match.competition_id,
        "round": 1,
        "home_team": match.home_team_id,
        "away_team": match.away_team_id,
        "kickoff_at_0": "2026-01-01",
        "kickoff_at_1": "12:00:00",
        "status": "completed",
        "home_score": "-1",
        "away_score": "",
    }
    response = admin_client.post(reverse("admin:stats_match_change", args=[match.pk]), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    match.refresh_from_db()
    assert match.status == Match.Status.SCHEDULED


def test_view_refreshes_are_named_and_timed_to_the_second(
    admin_client: Client, league: Match
) -> None:
    """ "View refreshes" (not "refreshs"), and each time with seconds, so a refresh of a few
    seconds can be seen to have run."""
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert "View refreshes" in index
    assert "View refreshs" not in index
    page = admin_client.get(reverse("admin:stats_viewrefresh_changelist")).content.decode()
    refresh = ViewRefresh.objects.get(view_name="stats_leaderboard")
    assert f"{refresh.refreshed_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}" in page


def test_match_list_shows_who_plays_when_and_the_score_newest_first(
    admin_client: Client, league: Match
) -> None:
    """Competition, round, home, away, kickoff, status and score as columns (not one wrapped
    description repeating the round), the newest match first."""
    later = make_match(kickoff_at=league.kickoff_at + timedelta(days=7))
    response = admin_client.get(reverse("admin:stats_match_changelist"))
    assert response.context["cl"].list_display[1:8] == [
        "competition",
        "round",
        "home_team",
        "away_team",
        "kickoff_at",
        "status",
        "score",
    ]
    assert list(response.context["cl"].result_list) == [later, league]
    assert "2-0" in response.content.decode()
