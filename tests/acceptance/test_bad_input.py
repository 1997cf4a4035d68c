"""Bad input, from every door: API parameters, cron headers, admin forms, scores written through
the ORM and raw SQL, task arguments. Each gets a clear 4xx or a clear error: never a 500, never a
silent drop, never a job retried for good."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from procrastinate.contrib.django.models import ProcrastinateJob

from stats import jobs, tasks
from stats.models import Match, Prediction
from tests.support.cron import CRON_SECRET, CRON_URL
from tests.support.factories import (
    complete,
    make_competition,
    make_match,
    make_prediction,
    make_user,
)
from tests.support.jobs import jobs_of
from tests.support.leagues import one_scored_match

pytestmark = pytest.mark.django_db

FUZZ = hypothesis_settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Any text a URL can carry, control characters and other scripts included.
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=60)
BOARD_PARAMETERS = ("competition", "round", "page", "page_size", "user", "format")


@pytest.fixture
def scored_board() -> Match:
    return one_scored_match(username="alice", competition=make_competition("premier"))


def is_clear_refusal(response: Any) -> bool:
    """A 400 or 404 whose JSON body says what was wrong, echoing at most a bounded excerpt."""
    if response.status_code not in {400, 404}:
        return False
    error = response.json()["error"]
    return isinstance(error, str) and 0 < len(error) < 300


# --- API parameters ------------------------------------------------------------------------------


@FUZZ
@given(params=st.dictionaries(st.sampled_from(BOARD_PARAMETERS), ANY_TEXT, max_size=4))
def test_fuzzed_board_parameters_get_a_page_or_a_clear_refusal(
    client: Client, scored_board: Match, params: dict[str, str]
) -> None:
    """Any value of any parameter: a page (200) or a 400/404 with a reason; never a 500."""
    response = client.get("/api/leaderboard", params)
    assert response.status_code == 200 or is_clear_refusal(response), response.content


@FUZZ
@given(params=st.dictionaries(st.sampled_from(BOARD_PARAMETERS), ANY_TEXT, max_size=4))
def test_fuzzed_parameters_of_the_html_page_never_crash_it(
    client: Client, scored_board: Match, params: dict[str, str]
) -> None:
    """The HTML page takes the same parameters: a page, or the page with the reason (4xx)."""
    assert client.get("/leaderboard/", params).status_code in {200, 400, 404}


@FUZZ
@given(user_id=ANY_TEXT.filter(bool))
def test_fuzzed_user_ids_are_a_page_or_not_found(
    client: Client, scored_board: Match, user_id: str
) -> None:
    """/api/users/<anything>/stats: the user's stats or a 404 naming the id; never a 500."""
    response = client.get(f"/api/users/{quote(user_id, safe='')}/stats")
    assert response.status_code in {200, 404}
    if response.status_code == 404 and response["Content-Type"] == "application/json":
        assert is_clear_refusal(response)


@pytest.mark.parametrize(
    "params",
    [
        {"competition": "premier", "round": "1; SELECT pg_sleep(10)"},
        {"competition": "premier\x00"},
        {"competition": "prémier"},
        {"competition": "premier", "page_size": "1e2"},
        {"competition": "premier", "page_size": "0x10"},
        {"page": "9" * 5000},
        {"competition": "a" * 100_000},
        {"page": "NaN"},
        {"page": "Infinity"},
        {"page": "-0"},
        {"page": "\uff11"},  # a full-width digit
        {"page_size": "50", "round": "1"},
        {"competition": ["premier", "premier"]},
    ],
)
def test_odd_parameters_are_refused_with_a_short_reason(
    client: Client, scored_board: Match, params: dict[str, Any]
) -> None:
    """Injection-shaped, non-ASCII, huge, float-shaped, repeated: 400 with a reason that quotes
    at most 40 characters of what was sent."""
    response = client.get("/api/leaderboard", params)
    assert response.status_code == 400, response.content
    assert is_clear_refusal(response)


def test_too_many_parameters_are_a_400(client: Client, scored_board: Match) -> None:
    """More fields than Django parses (DATA_UPLOAD_MAX_NUMBER_FIELDS): refused, not a 500."""
    query = "&".join(f"p{index}=1" for index in range(1500))
    client.raise_request_exception = False
    assert client.get(f"/api/leaderboard?{query}").status_code == 400


def test_a_huge_valid_page_number_is_past_the_end(client: Client, scored_board: Match) -> None:
    """The largest page PostgreSQL can count to: a 404, not an overflow."""
    response = client.get("/api/leaderboard", {"page": str(2**31 - 1), "page_size": "100"})
    assert response.status_code == 404
    assert is_clear_refusal(response)


# --- Cron headers --------------------------------------------------------------------------------


@FUZZ
@given(
    authorization=st.one_of(
        st.none(),
        ANY_TEXT,
        st.builds(lambda tail: f"Bearer {tail}", ANY_TEXT),
        st.builds(
            lambda at, char: f"Bearer {CRON_SECRET[:at]}{char}{CRON_SECRET[at + 1 :]}",
            st.integers(0, len(CRON_SECRET) - 1),
            st.characters(codec="utf-8"),
        ),
    ),
    content_type=st.sampled_from(["application/json", "text/plain", "multipart/form-data"]),
    body=st.binary(max_size=200),
    forwarded_for=ANY_TEXT,
)
def test_fuzzed_cron_requests_are_refused_without_queueing(
    client: Client,
    settings: Any,
    authorization: str | None,
    content_type: str,
    body: bytes,
    forwarded_for: str,
) -> None:
    """Any header but the exact bearer secret (near misses one character off included), any
    body, any forwarding header: 401 with a fixed message, nothing queued, never a 500."""
    settings.CRON_SECRET = CRON_SECRET
    if authorization == f"Bearer {CRON_SECRET}":
        return
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for}
    if authorization is not None:
        headers["HTTP_AUTHORIZATION"] = authorization
    response = client.post(CRON_URL, body, content_type=content_type, **headers)  # type: ignore[arg-type]
    assert (response.status_code, response.json()) == (401, {"error": "Unauthorized"})
    assert len(jobs_of(jobs.REFRESH_STATS_VIEWS, "todo")) == 0


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "head", "options"])
def test_cron_with_the_right_secret_but_the_wrong_method_is_405(
    client: Client, settings: Any, method: str
) -> None:
    settings.CRON_SECRET = CRON_SECRET
    response = getattr(client, method)(CRON_URL, HTTP_AUTHORIZATION=f"Bearer {CRON_SECRET}")
    assert response.status_code == 405
    assert len(jobs_of(jobs.REFRESH_STATS_VIEWS, "todo")) == 0


# --- Admin forms -------------------------------------------------------------------------------


def match_form(match: Match, **changes: Any) -> dict[str, Any]:
    data = {
        "competition": match.competition_id,
        "round": "1",
        "home_team": match.home_team_id,
        "away_team": match.away_team_id,
        "kickoff_at_0": "2026-01-01",
        "kickoff_at_1": "12:00:00",
        "status": "completed",
        "home_score": "2",
        "away_score": "1",
    }
    data.update(changes)
    return data


def test_the_valid_match_form_saves_and_queues_scoring(admin_client: Client) -> None:
    """The control for the cases below: the same form, valid, saves and queues one scoring."""
    match = make_match()
    url = reverse("admin:stats_match_change", args=[match.pk])
    assert admin_client.post(url, match_form(match)).status_code == 302
    match.refresh_from_db()
    assert (match.status, match.home_score, match.away_score) == ("completed", 2, 1)
    assert ProcrastinateJob.objects.filter(task_name=jobs.CALCULATE_POINTS).count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"home_score": "-1"}, "home_score"),
        ({"home_score": "abc"}, "home_score"),
        ({"home_score": "1.5"}, "home_score"),
        ({"away_score": "40000"}, "away_score"),
        ({"away_score": "9" * 30}, "away_score"),
        ({"home_score": "", "away_score": ""}, "__all__"),  # completed without a score
        ({"away_score": ""}, "__all__"),  # one score only
        ({"round": "0"}, "__all__"),  # a database constraint: "stats_match_round_positive"
        ({"status": "finished"}, "status"),
        ({"kickoff_at_0": "31/02/2026"}, "kickoff_at"),
        ({"away_team": "same"}, "__all__"),  # home team = away team
        ({"competition": "999999"}, "competition"),
    ],
)
def test_invalid_match_form_input_is_a_form_error(
    admin_client: Client, changes: dict[str, Any], field: str
) -> None:
    """Each bad value: the form again with the error on its field (200), the match unchanged,
    no job queued; never a 500."""
    match = make_match()
    if changes.get("away_team") == "same":
        changes = {"away_team": match.home_team_id}
    url = reverse("admin:stats_match_change", args=[match.pk])
    response = admin_client.post(url, match_form(match, **changes))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    match.refresh_from_db()
    assert (match.status, match.home_score, match.away_score) == ("scheduled", None, None)
    assert not ProcrastinateJob.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"home_score": "-3"}, "home_score"),
        ({"away_score": "x"}, "away_score"),
        ({"away_score": "32768"}, "away_score"),
        ({"user": "999999"}, "user"),
        ({"match": "abc"}, "match"),
        ({}, "__all__"),  # a second prediction of the same match by the same user
    ],
)
def test_invalid_prediction_form_input_is_a_form_error(
    admin_client: Client, changes: dict[str, Any], field: str
) -> None:
    match = make_match()
    user = make_user()
    make_prediction(user, match, 1, 1)
    data = {"user": user.pk, "match": match.pk, "home_score": "2", "away_score": "0", **changes}
    response = admin_client.post(reverse("admin:stats_prediction_add"), data)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert Prediction.objects.count() == 1


# --- Scores out of range through the ORM and raw SQL -----------------------------------------


def refused(error: type[Exception], write: Any) -> str:
    """Run `write` in a savepoint; return the database's message for the expected error."""
    with pytest.raises(error) as raised, transaction.atomic():
        write()
    return str(raised.value)


def test_scores_out_of_range_through_the_orm_are_refused_by_the_database() -> None:
    """Negative or too large scores, a completed match without a score: IntegrityError or
    DataError naming the rule, whether through save(), update() or bulk_create()."""
    match = make_match()
    user = make_user()
    template = Match.objects.filter(pk=match.pk)
    assert "stats_match_home_score_check" in refused(
        IntegrityError, lambda: template.update(home_score=-1, away_score=0)
    )
    assert "out of range" in refused(
        DataError, lambda: template.update(home_score=40000, away_score=0)
    )
    assert "stats_match_completed_has_score" in refused(
        IntegrityError, lambda: template.update(status=Match.Status.COMPLETED)
    )
    assert "stats_match_scores_set_together" in refused(
        IntegrityError, lambda: template.update(home_score=1)
    )
    assert "stats_prediction_home_score_check" in refused(
        IntegrityError, lambda: make_prediction(user, match, -1, 0)
    )
    assert "stats_prediction_points_check" in refused(
        IntegrityError,
        lambda: Prediction.objects.bulk_create(
            [Prediction(user=user, match=match, home_score=0, away_score=0, points=-3)]
        ),
    )
    match.refresh_from_db()
    assert (match.status, match.home_score) == ("scheduled", None)
    assert not Prediction.objects.exists()


def test_full_clean_explains_scores_out_of_range() -> None:
    """The model's own validation (the admin's and any form's) names each bad field."""
    match = make_match()
    match.status, match.home_score, match.away_score = Match.Status.COMPLETED, -1, 99_999
    with pytest.raises(ValidationError) as raised:
        match.full_clean()
    assert set(raised.value.message_dict) == {"home_score", "away_score"}


@pytest.mark.parametrize(
    ("statement", "error", "message"),
    [
        (
            "UPDATE stats_match SET home_score = -1, away_score = 0 WHERE id = %s",
            IntegrityError,
            "stats_match_home_score_check",
        ),
        (
            "UPDATE stats_match SET home_score = 32768, away_score = 0 WHERE id = %s",
            DataError,
            "smallint out of range",
        ),
        (
            "UPDATE stats_match SET status = 'completed' WHERE id = %s",
            IntegrityError,
            "stats_match_completed_has_score",
        ),
        (
            "UPDATE stats_match SET away_team_id = home_team_id WHERE id = %s",
            IntegrityError,
            "stats_match_teams_differ",
        ),
        (
            "UPDATE stats_match SET round = 0 WHERE id = %s",
            IntegrityError,
            "stats_match_round_positive",
        ),
        (
            "UPDATE stats_prediction SET away_score = -2 WHERE match_id = %s",
            IntegrityError,
            "stats_prediction_away_score_check",
        ),
        (
            "UPDATE stats_prediction SET points = -1 WHERE match_id = %s",
            IntegrityError,
            "stats_prediction_points_check",
        ),
        (
            "UPDATE stats_prediction SET home_score = 'abc' WHERE match_id = %s",
            DataError,
            "invalid input syntax for type smallint",
        ),
    ],
)
def test_scores_out_of_range_through_raw_sql_are_refused(
    statement: str, error: type[Exception], message: str
) -> None:
    """The rules are database constraints, so SQL that bypasses Django is refused too."""
    match = make_match()
    make_prediction(make_user(), match, 1, 1)

    def write() -> None:
        with connection.cursor() as cursor:
            cursor.execute(statement, [match.pk])

    assert message in refused(error, write)
    match.refresh_from_db()
    assert (match.status, match.home_score, match.round) == ("scheduled", None, 1)


# --- Task arguments of the wrong type ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["float", "numeric string"])
def test_scoring_refuses_an_id_that_is_not_an_integer(kind: str) -> None:
    """An id that is not an int is a TypeError, not silently coerced to another match."""
    match = make_match()
    make_prediction(make_user(), match, 2, 0)
    complete(match, 2, 0)
    match_id: Any = {"float": match.pk + 0.9, "numeric string": str(match.pk)}[kind]
    with pytest.raises(TypeError):
        tasks.calculate_points(match_id=match_id)
