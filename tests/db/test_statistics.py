"""Statistics kept from what changed: after any sequence of writes, and the jobs, every relation
equals its recomputation from scratch (stats/audit.py); and when a write goes behind the
maintenance's back, `rebuild_stats --check` says so and `rebuild_stats` repairs it."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)
from procrastinate.contrib.django.utils import connector_params

from stats.audit import stats_differences
from stats.exceptions import StatisticsReadOnly
from stats.models import (
    CompetitionStanding,
    CompetitionTotal,
    LeaderboardEntry,
    Match,
    MatchSummary,
    Prediction,
    RoundStanding,
)
from stats.processes import wait_until
from stats.relations import ROUND_BOARDS
from stats.services import match_score_predictions, stats_refresh
from tests.support.factories import (
    complete,
    make_competition,
    make_match,
    make_prediction,
    make_team,
    make_user,
)
from tests.support.leagues import one_scored_match

goals = st.integers(min_value=0, max_value=4)


def run_the_jobs() -> None:
    """What the workers would do next: score every settled match whose points are stale, then
    refresh once."""
    for match_id in Match.objects.settled().with_stale_points().values_list("pk", flat=True):
        match_score_predictions(match_id=match_id)
    stats_refresh()


class StatisticsMachine(RuleBasedStateMachine):
    """Writes of every kind on a small league; the jobs run after each one."""

    users = Bundle("users")
    matches = Bundle("matches")
    predictions = Bundle("predictions")

    def __init__(self) -> None:
        super().__init__()
        # Each example runs in a savepoint that is rolled back: the next one starts empty.
        self._example = transaction.atomic()
        self._example.__enter__()
        self.competitions = [make_competition(), make_competition()]
        self.teams = [make_team(), make_team()]

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._example.__exit__(None, None, None)

    @rule(target=users)
    def add_user(self) -> User:
        return make_user()

    @rule(target=matches, competition=st.integers(0, 1), round=st.integers(1, 3))
    def add_match(self, competition: int, round: int) -> Match:
        home, away = self.teams
        return make_match(
            self.competitions[competition], round=round, home_team=home, away_team=away
        )

    @rule(target=predictions, user=users, match=matches, home=goals, away=goals)
    def predict(self, user: User, match: Match, home: int, away: int) -> Prediction | None:
        match.refresh_from_db()
        exists = Prediction.objects.filter(user=user, match=match).exists()
        if match.status != Match.Status.SCHEDULED or exists or not user.pk:
            return None  # predictions close at kickoff; one per user and match
        return make_prediction(user, match, home, away)

    @rule(prediction=predictions, home=goals, away=goals)
    def change_prediction(self, prediction: Prediction | None, home: int, away: int) -> None:
        if prediction is None:
            return
        Prediction.objects.filter(pk=prediction.pk, match__status=Match.Status.SCHEDULED).update(
            home_score=home, away_score=away
        )

    @rule(prediction=consumes(predictions))
    def delete_prediction(self, prediction: Prediction | None) -> None:
        if prediction is not None:
            Prediction.objects.filter(pk=prediction.pk).delete()

    @rule(match=matches, home=goals, away=goals)
    def record_result(self, match: Match, home: int, away: int) -> None:
        """A result, or a corrected one."""
        if Match.objects.filter(pk=match.pk).exists():
            match.refresh_from_db()
            complete(match, home, away)

    @rule(match=matches, status=st.sampled_from(["cancelled", "postponed", "scheduled", "live"]))
    def change_status(self, match: Match, status: str) -> None:
        """A void, or a result taken back (its points then no longer count)."""
        if Match.objects.filter(pk=match.pk).exists():
            match.refresh_from_db()
            match.status = status
            if status in ("scheduled", "live"):
                match.home_score = match.away_score = None
            match.save()

    @rule(match=matches, competition=st.integers(0, 1), round=st.integers(1, 3))
    def move_match(self, match: Match, competition: int, round: int) -> None:
        """A match's round or competition edited, scores and points left as they are."""
        Match.objects.filter(pk=match.pk).update(
            competition=self.competitions[competition], round=round
        )

    @rule(match=consumes(matches))
    def delete_match(self, match: Match) -> None:
        Match.objects.filter(pk=match.pk).delete()

    @rule(user=consumes(users))
    def delete_user(self, user: User) -> None:
        User.objects.filter(pk=user.pk).delete()

    @rule(match=matches, points=st.integers(0, 3))
    def raw_sql_points(self, match: Match, points: int) -> None:
        """A write no ORM code made: every prediction of a match given these points."""
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE stats_prediction SET points = %s WHERE match_id = %s", [points, match.pk]
            )

    @invariant()
    def statistics_equal_their_recomputation(self) -> None:
        run_the_jobs()
        assert stats_differences() == []


@pytest.mark.django_db
def test_statistics_equal_a_recomputation_after_any_writes() -> None:
    """The stateful property: whatever the writes, after the jobs, every relation is exact."""
    run_state_machine_as_test(
        StatisticsMachine,
        settings=hypothesis_settings(
            max_examples=25,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# --- paths, one at a time ------------------------------------------------------------------------


def _scored_round() -> tuple[Match, Match, list[User]]:
    competition = make_competition()
    first, second = make_match(competition, round=1), make_match(competition, round=1)
    users = [make_user() for _ in range(3)]
    for user, (home, away) in zip(users, [(1, 0), (2, 2), (0, 3)], strict=True):
        make_prediction(user, first, home, away)
        make_prediction(user, second, away, home)
    complete(first, 1, 0)
    complete(second, 2, 2)
    run_the_jobs()
    return first, second, users


@pytest.mark.django_db
def test_a_user_leaves_the_boards_when_nothing_of_theirs_counts() -> None:
    """Voiding the matches a user scored in leaves no zero row behind, on any board."""
    first, second, _users = _scored_round()
    assert LeaderboardEntry.objects.count() == 3
    for match in (first, second):
        match.status = Match.Status.CANCELLED
        match.save()
    run_the_jobs()
    assert not LeaderboardEntry.objects.exists()
    assert not CompetitionStanding.objects.exists()
    assert not RoundStanding.objects.exists()
    assert stats_differences() == []


@pytest.mark.django_db
def test_a_match_moved_to_another_round_moves_its_points() -> None:
    """Editing a match's round re-ranks both rounds; the totals stay."""
    first, _second, _users = _scored_round()
    before = list(LeaderboardEntry.objects.values_list("user_id", "total_points"))
    Match.objects.filter(pk=first.pk).update(round=2)
    run_the_jobs()
    rounds = RoundStanding.objects.order_by("round").values_list("round", flat=True)
    assert list(rounds.distinct()) == [1, 2]
    assert list(LeaderboardEntry.objects.values_list("user_id", "total_points")) == before
    assert stats_differences() == []


@pytest.mark.django_db
def test_a_new_prediction_touches_its_summary_before_kickoff() -> None:
    """The summary of a match counts predictions before the match is played."""
    match = make_match()
    run_the_jobs()
    assert MatchSummary.objects.get(match=match).predictions_count == 0
    make_prediction(make_user(), match, 1, 0)
    run_the_jobs()
    assert MatchSummary.objects.get(match=match).predictions_count == 1


@pytest.mark.django_db
@pytest.mark.parametrize("table", ["stats_prediction", "stats_match"])
def test_a_truncate_touches_everything_it_emptied(table: str) -> None:
    """A TRUNCATE fires no row trigger: it marks every round and match there was, so the next
    refresh empties the boards and summaries (a TRUNCATE of the matches cascades)."""
    _scored_round()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no foreign-key check left pending
        cursor.execute(f"TRUNCATE {table} CASCADE")
    run_the_jobs()
    assert not LeaderboardEntry.objects.exists()
    assert not RoundStanding.objects.exists()
    assert MatchSummary.objects.exists() == (table == "stats_prediction")
    assert stats_differences() == []


# --- rebuild_stats -------------------------------------------------------------------------------


def _check() -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("rebuild_stats", "--check", stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


@pytest.mark.django_db
def test_check_finds_a_write_behind_the_triggers_back_and_rebuild_repairs_it() -> None:
    """A points write with the table's user triggers disabled (as a restore would) marks
    nothing: --check prints each difference, stored vs recomputed, and exits 1; rebuild_stats
    repairs it, after which --check is clean."""
    first, _second, users = _scored_round()
    output, error = _check()
    assert error is None
    assert output.splitlines()[-1].startswith("every statistic matches its recomputation (")
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no foreign-key check left pending
        cursor.execute("ALTER TABLE stats_prediction DISABLE TRIGGER USER")
        cursor.execute(
            "UPDATE stats_prediction SET points = 0 WHERE match_id = %s AND user_id = %s",
            [first.pk, users[0].pk],
        )
        cursor.execute("ALTER TABLE stats_prediction ENABLE TRIGGER USER")
    stats_refresh()  # nothing was marked: the refresh cannot know

    output, error = _check()
    assert error is not None
    assert error.returncode == 1
    assert "rebuild_stats` repairs them" in str(error)
    key = f"competition_id={first.competition_id}, round=1, user_id={users[0].pk}"
    assert f"{ROUND_BOARDS.name} ({key}): stored vs recomputed: total_points 3 vs 0, " in output
    assert f"stats_leaderboard (user_id={users[0].pk}): stored vs recomputed: total_points" in (
        output
    )
    assert f"stats_match_summary (match_id={first.pk}): stored vs recomputed: average_points" in (
        output
    )

    rebuilt = io.StringIO()
    call_command("rebuild_stats", stdout=rebuilt, stderr=io.StringIO())
    assert rebuilt.getvalue().splitlines()[-1].startswith("statistics rebuilt in ")
    assert _check()[1] is None
    assert stats_differences() == []


# --- marks and snapshots, on real connections ----------------------------------------------------


@pytest.fixture
def blocker() -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(**connector_params(), autocommit=False) as blocker:
        yield blocker
        blocker.rollback()


@pytest.mark.django_db(transaction=True)
def test_a_write_committed_during_a_refresh_waits_for_the_follow_up(
    blocker: psycopg.Connection[Any],
) -> None:
    """The refresh consumes the marks its snapshot sees, and only those: a result committed
    while it runs is not in its boards, and its mark is left for the next refresh."""
    competition = make_competition()
    alice, bob = make_user("alice"), make_user("bob")
    early, late = (
        make_match(competition, kickoff_at=timezone.now() + timedelta(hours=1)) for _ in range(2)
    )
    make_prediction(alice, early, 1, 0)
    make_prediction(bob, late, 1, 0)
    complete(early, 1, 0)
    match_score_predictions(match_id=early.pk)

    # Hold the overall board's lock: the refresh takes its snapshot, then waits there.
    blocker.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY stats_leaderboard")
    refresh = threading.Thread(target=_refresh_in_own_connection)
    refresh.start()
    wait_until(_refresh_is_waiting, timeout=10, what="the refresh to wait for the board")
    complete(late, 1, 0)
    match_score_predictions(match_id=late.pk)
    blocker.rollback()
    refresh.join(timeout=20)

    assert list(LeaderboardEntry.objects.values_list("user__username", flat=True)) == ["alice"]
    stats_refresh()
    assert sorted(LeaderboardEntry.objects.values_list("user__username", flat=True)) == [
        "alice",
        "bob",
    ]
    assert stats_differences() == []


def _refresh_in_own_connection() -> None:
    try:
        stats_refresh()
    finally:
        connection.close()


def _refresh_is_waiting() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query ILIKE 'REFRESH MATERIALIZED VIEW%%'"
        )
        return bool(cursor.fetchone()[0])


# --- the migration --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_statistics_from_the_data_already_there() -> None:
    """Back to the four views of 0006 (the reverse works), a scored league written there, then
    forward again: the new relations hold exactly the recomputation, before any refresh."""
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    MigrationExecutor(connection).migrate([("stats", "0006_board_positions")])
    try:
        competition = make_competition()
        matches = [make_match(competition, round=round) for round in (1, 1, 2)]
        users = [make_user() for _ in range(4)]
        for index, user in enumerate(users):
            for match in matches:
                make_prediction(user, match, index % 3, 1)
        for match, (home, away) in zip(matches[:2], [(2, 1), (1, 1)], strict=True):
            complete(match, home, away)
            match_score_predictions(match_id=match.pk)
    finally:
        MigrationExecutor(connection).migrate(leaves)
    assert RoundStanding.objects.count() == 4
    assert MatchSummary.objects.count() == 3
    assert stats_differences() == []


READ_ONLY_WRITES: dict[str, Callable[[], object]] = {
    "queryset update": lambda: LeaderboardEntry.objects.update(total_points=99),
    "queryset delete": lambda: CompetitionTotal.objects.all().delete(),
    "bulk_create": lambda: MatchSummary.objects.bulk_create([MatchSummary(match_id=1)]),
    "create": lambda: RoundStanding.objects.create(id="1:1:1"),
    "save": lambda: LeaderboardEntry.objects.get().save(),
    "instance delete": lambda: LeaderboardEntry.objects.get().delete(),
}


@pytest.mark.django_db
@pytest.mark.parametrize("write", READ_ONLY_WRITES.values(), ids=READ_ONLY_WRITES.keys())
def test_the_statistics_refuse_writes_through_the_orm(write: Callable[[], object]) -> None:
    """The refresh writes the statistics in SQL; an ORM write raises a named error and changes
    nothing."""
    one_scored_match(score=(2, 1))
    before = stats_differences()
    with pytest.raises(StatisticsReadOnly, match="kept by the stats refresh"):
        write()
    assert LeaderboardEntry.objects.get().total_points == 3
    assert CompetitionTotal.objects.count() == 1
    assert stats_differences() == before == []
