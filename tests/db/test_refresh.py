from __future__ import annotations

import random
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.utils import OperationalError
from procrastinate.contrib.django.utils import connector_params
from psycopg import errors as pg_errors
from psycopg import sql
from pytest_django.fixtures import Settings

from stats.audit import stats_differences
from stats.exceptions import ViewNotRefreshable
from stats.models import (
    Competition,
    CompetitionTotal,
    Match,
    MatchSummary,
    Prediction,
    RoundTotal,
    UserTotal,
    ViewRefresh,
)
from stats.processes import wait_until
from stats.refresh import (
    BY_DIFFERENCE_STEP,
    CHANGES_STEP,
    DIFFERENCES_STEP,
    RECOUNT_STEP,
    stats_refresh,
)
from stats.relations import (
    COMPETITION,
    MATCH_SUMMARIES,
    MATERIALIZED_VIEWS,
    OVERALL,
    ROUND,
    STATS_RELATIONS,
    StatsRelation,
)
from stats.selectors import Board, leaderboard_page, with_rank
from stats.services import match_score_predictions
from tests.support.factories import (
    complete,
    kickoff_check_off,
    make_competition,
    make_match,
    make_prediction,
    make_team,
    make_user,
    rolled_back,
)

# --- a Python reference of the views ----------------------------------------------------------


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def sql_rank(keys: list[tuple[int, int]]) -> list[int]:
    """SQL RANK() over `keys` sorted descending: ties share a rank, the next rank skips."""
    return [1 + sum(other > key for other in keys) for key in keys]


@dataclass(frozen=True)
class Row:
    """One prediction joined to its match, as the views see it."""

    user_id: int
    competition_id: int
    round: int
    match_id: int
    status: str
    predicted: tuple[int, int]
    result: tuple[int | None, int | None]
    points: int | None

    @property
    def counts(self) -> bool:
        return self.points is not None and self.status == Match.Status.COMPLETED

    @property
    def exact(self) -> bool:
        return self.predicted == self.result

    @property
    def right_outcome(self) -> bool:
        home, away = self.result
        assert home is not None
        assert away is not None
        return _sign(self.predicted[0] - self.predicted[1]) == _sign(home - away)


def _rows() -> list[Row]:
    return [
        Row(
            user_id=p.user_id,
            competition_id=p.match.competition_id,
            round=p.match.round,
            match_id=p.match_id,
            status=p.match.status,
            predicted=(p.home_score, p.away_score),
            result=(p.match.home_score, p.match.away_score),
            points=p.points,
        )
        for p in Prediction.objects.select_related("match")
    ]


def _ranked(groups: dict[Any, list[Row]]) -> dict[Any, dict[str, int]]:
    """Totals per group key, ranked within the key's first part (all of it when it is the user)."""
    totals: dict[Any, dict[str, int]] = {}
    for key, rows in groups.items():
        totals[key] = {
            "total_points": sum(row.points or 0 for row in rows),
            "exact_scores": sum(row.exact for row in rows),
            "predictions_scored": len(rows),
            "correct_outcomes": sum(row.right_outcome for row in rows),
        }
    partitions: dict[Any, list[Any]] = defaultdict(list)
    for key in totals:
        partitions[key[:-1]].append(key)
    for keys in partitions.values():
        ranks = sql_rank(
            [(totals[key]["total_points"], totals[key]["exact_scores"]) for key in keys]
        )
        for key, rank in zip(keys, ranks, strict=True):
            totals[key]["rank"] = rank
    return totals


def expected_leaderboard(rows: list[Row]) -> dict[int, dict[str, int]]:
    groups: dict[tuple[int], list[Row]] = defaultdict(list)
    for row in rows:
        if row.counts:
            groups[(row.user_id,)].append(row)
    return {key[0]: value for key, value in _ranked(dict(groups)).items()}


def expected_competition_standings(rows: list[Row]) -> dict[tuple[int, int], dict[str, int]]:
    groups: dict[tuple[int, int], list[Row]] = defaultdict(list)
    for row in rows:
        if row.counts:
            groups[(row.competition_id, row.user_id)].append(row)
    return _ranked(dict(groups))


def expected_round_standings(rows: list[Row]) -> dict[tuple[int, int, int], dict[str, int]]:
    groups: dict[tuple[int, int, int], list[Row]] = defaultdict(list)
    for row in rows:
        if row.counts:
            groups[(row.competition_id, row.round, row.user_id)].append(row)
    return _ranked(dict(groups))


def expected_match_summaries(rows: list[Row]) -> dict[int, dict[str, Any]]:
    summaries: dict[int, dict[str, Any]] = {}
    for match_id, status in Match.objects.values_list("pk", "status"):
        predicted = [row for row in rows if row.match_id == match_id]
        completed = status == Match.Status.COMPLETED
        points = [row.points for row in predicted if completed and row.points is not None]
        summaries[match_id] = {
            "predictions_count": len(predicted),
            "home_win_predictions": sum(row.predicted[0] > row.predicted[1] for row in predicted),
            "draw_predictions": sum(row.predicted[0] == row.predicted[1] for row in predicted),
            "away_win_predictions": sum(row.predicted[0] < row.predicted[1] for row in predicted),
            "exact_scores": sum(completed and row.exact for row in predicted),
            "average_points": (
                (Decimal(sum(points)) / len(points)).quantize(Decimal("0.001"), ROUND_HALF_UP)
                if points
                else None
            ),
        }
    return summaries


def test_sql_rank_reference() -> None:
    """The reference ranks like SQL RANK(): ties share a rank and the next one skips."""
    assert sql_rank([(10, 1), (8, 2), (8, 2), (8, 1), (5, 0)]) == [1, 2, 2, 4, 5]


# --- the league -------------------------------------------------------------------------------


@dataclass
class League:
    users: list[User]
    matches: dict[str, Match]


def build_league() -> League:
    """Two competitions, several rounds, 12 users with deliberate ties; scored and refreshed.

    Users 0 and 1 predict identically (a full tie). Users 2 and 3 tie on points but user 2 has
    more exact scores. A cancelled match was scored while completed; a scheduled match and a
    postponed one carry predictions; one completed match has a late, unscored prediction; one
    match has no prediction at all.
    """
    premier, cup = make_competition("premier"), make_competition("cup")
    teams = [make_team(f"Team {index}") for index in range(8)]

    def fixture(competition: Competition, round: int, home: int, away: int) -> Match:
        return make_match(competition, round=round, home_team=teams[home], away_team=teams[away])

    matches = {
        "p1a": fixture(premier, 1, 0, 1),
        "p1b": fixture(premier, 1, 2, 3),
        "p2a": fixture(premier, 2, 1, 2),
        "p2b": fixture(premier, 2, 3, 0),
        "p3a": fixture(premier, 3, 0, 2),
        "p3b": fixture(premier, 3, 1, 3),
        "c1a": fixture(cup, 1, 4, 5),
        "c1b": fixture(cup, 1, 6, 7),
        "c2a": fixture(cup, 2, 5, 6),
        "c2b": fixture(cup, 2, 7, 4),
    }
    results = {
        "p1a": (2, 1),
        "p1b": (0, 0),
        "p2a": (1, 3),
        "p2b": (2, 2),  # cancelled after scoring
        "p3a": (1, 0),
        "c1a": (4, 0),
        "c2a": (1, 1),
    }
    users = [make_user(f"player{index:02}") for index in range(12)]
    generator = random.Random(20261128)  # a fixed league
    predicted = [m for key, m in matches.items() if key not in {"c2b", "p3b"}]
    for user in users[4:]:
        for match in predicted:
            if generator.random() < 0.85:
                make_prediction(user, match, generator.randint(0, 4), generator.randint(0, 3))
    # The crafted ties.
    twin_scores = {"p1a": (2, 1), "p1b": (1, 1), "p2a": (0, 2), "c1a": (2, 0), "c2a": (0, 1)}
    for user in users[:2]:
        for key, (home, away) in twin_scores.items():
            make_prediction(user, matches[key], home, away)
    # User 2: one exact (3). User 3: a goal difference and an outcome (2 + 1).
    make_prediction(users[2], matches["p1a"], 2, 1)
    make_prediction(users[2], matches["p1b"], 3, 0)
    make_prediction(users[3], matches["p1a"], 1, 0)
    make_prediction(users[3], matches["p3a"], 3, 0)
    make_prediction(users[2], matches["p3b"], 1, 1)  # the scheduled match
    make_prediction(users[3], matches["c1b"], 0, 0)  # the postponed match

    for key, (home, away) in results.items():
        complete(matches[key], home, away)
        match_score_predictions(match_id=matches[key].pk)
    matches["p2b"].status = Match.Status.CANCELLED
    matches["p2b"].save()
    matches["c1b"].status = Match.Status.POSTPONED
    matches["c1b"].save()
    for key in ("p2b", "c1b"):
        match_score_predictions(match_id=matches[key].pk)
    # A prediction restored after the match was scored: it counts nowhere until scored.
    with kickoff_check_off():
        make_prediction(users[3], matches["c2a"], 1, 1)
    stats_refresh()
    return League(users, matches)


def _leaderboard() -> dict[int, dict[str, int]]:
    return {
        entry.user_id: {
            "total_points": entry.total_points,
            "predictions_scored": entry.predictions_scored,
            "exact_scores": entry.exact_scores,
            "correct_outcomes": entry.correct_outcomes,
            "rank": entry.rank,
        }
        for entry in with_rank(UserTotal.objects.all(), OVERALL)
    }


@pytest.mark.django_db
def test_league_has_the_deliberate_ties() -> None:
    """The league the view tests use has a full tie and a tie broken by exact scores."""
    league = build_league()
    board = expected_leaderboard(_rows())
    twins = [board[user.pk] for user in league.users[:2]]
    assert twins[0] == twins[1]
    user2, user3 = board[league.users[2].pk], board[league.users[3].pk]
    assert (user2["total_points"], user2["exact_scores"]) == (3, 1)
    assert (user3["total_points"], user3["exact_scores"]) == (3, 0)
    assert user2["rank"] < user3["rank"]
    assert len(board) == 12
    ranks = sorted(entry["rank"] for entry in board.values())
    assert len(set(ranks)) < len(ranks)


@pytest.mark.django_db
def test_leaderboard_matches_python_reference() -> None:
    """The overall board holds, per user, total points, scored predictions, exact scores,
    right outcomes (exact and goal-difference hits included) and RANK(), as computed in Python
    from scored predictions of completed matches only."""
    build_league()
    assert _leaderboard() == expected_leaderboard(_rows())


@pytest.mark.django_db
def test_competition_standings_match_python_reference() -> None:
    """The competition boards hold the same totals per competition, ranked within it."""
    build_league()
    actual = {
        (standing.competition_id, standing.user_id): {
            "total_points": standing.total_points,
            "predictions_scored": standing.predictions_scored,
            "exact_scores": standing.exact_scores,
            "correct_outcomes": standing.correct_outcomes,
            "rank": standing.rank,
        }
        for standing in with_rank(CompetitionTotal.objects.all(), COMPETITION)
    }
    assert actual == expected_competition_standings(_rows())
    assert {
        standing.id: (standing.competition_id, standing.user_id)
        for standing in CompetitionTotal.objects.all()
    } == {f"{competition}:{user}": (competition, user) for competition, user in actual}


@pytest.mark.django_db
def test_round_standings_match_python_reference() -> None:
    """The round boards hold the same totals per round, ranked within it."""
    build_league()
    actual = {
        (standing.competition_id, standing.round, standing.user_id): {
            "total_points": standing.total_points,
            "predictions_scored": standing.predictions_scored,
            "exact_scores": standing.exact_scores,
            "correct_outcomes": standing.correct_outcomes,
            "rank": standing.rank,
        }
        for standing in with_rank(RoundTotal.objects.all(), ROUND)
    }
    assert actual == expected_round_standings(_rows())
    assert {standing.id for standing in RoundTotal.objects.all()} == {
        f"{competition}:{round}:{user}" for competition, round, user in actual
    }


@pytest.mark.django_db
def test_match_summaries_match_python_reference() -> None:
    """stats_match_summary has a row for every match, predicted or not: predicted outcomes,
    exact scores and average points (3 places) of completed matches."""
    league = build_league()
    actual = {
        summary.match_id: {
            "predictions_count": summary.predictions_count,
            "home_win_predictions": summary.home_win_predictions,
            "draw_predictions": summary.draw_predictions,
            "away_win_predictions": summary.away_win_predictions,
            "exact_scores": summary.exact_scores,
            "average_points": summary.average_points,
        }
        for summary in MatchSummary.objects.all()
    }
    assert actual == expected_match_summaries(_rows())
    assert set(actual) == {match.pk for match in league.matches.values()}
    assert actual[league.matches["c2b"].pk]["predictions_count"] == 0


@pytest.mark.django_db
def test_void_unscored_and_scheduled_predictions_count_nowhere() -> None:
    """Predictions of cancelled, postponed and scheduled matches, and unscored ones, are in no
    leaderboard, even when they were scored before the match was voided."""
    league = build_league()
    left_out = {league.matches[key].pk for key in ("p2b", "c1b", "p3b")}
    assert Prediction.objects.filter(match_id__in=left_out, points__isnull=False).count() == 0
    board = _leaderboard()
    # The only predictions of user 3 that count: 1-0 (goal difference) and 3-0 (outcome).
    assert board[league.users[3].pk]["predictions_scored"] == 2
    assert not RoundTotal.objects.filter(
        competition__slug="premier", round=3, user=league.users[2]
    ).exists()


@pytest.mark.django_db
def test_refresh_records_each_relation() -> None:
    """A refresh returns one timing per step (the path it took, the log consumed, the
    differences, then each relation in order) and records when each relation was refreshed: the
    same moment for all, one snapshot."""
    steps = stats_refresh()
    assert [step.name for step in steps] == [BY_DIFFERENCE_STEP, CHANGES_STEP, DIFFERENCES_STEP] + [
        relation.name for relation in STATS_RELATIONS
    ]
    assert all(step.duration_ms >= 0 for step in steps)
    assert {refresh.view_name: refresh.duration_ms for refresh in ViewRefresh.objects.all()} == {
        step.name: step.duration_ms for step in steps[3:]
    }
    assert len({refresh.refreshed_at for refresh in ViewRefresh.objects.all()}) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("path", [BY_DIFFERENCE_STEP, RECOUNT_STEP])
def test_a_burst_of_changes_leaves_every_relation_right_by_either_path(
    path: str, settings: Settings
) -> None:
    """Results corrected, a match cancelled, one completed, predictions changed and deleted:
    moved by difference, or (the log long against the league) recounted, every relation equals
    its recomputation, and the refresh says which path it took."""
    league = build_league()
    if path == RECOUNT_STEP:
        settings.STATS_RECOUNT_LEAGUE_SHARE = 0.0
        settings.STATS_RECOUNT_MIN_ROWS = 0
    else:
        settings.STATS_RECOUNT_LEAGUE_SHARE = 1_000.0
    matches = league.matches
    for key, (home, away) in {"p1a": (0, 3), "c1a": (4, 1), "p3b": (2, 2)}.items():
        complete(matches[key], home, away)
    matches["c2a"].status = Match.Status.CANCELLED
    matches["c2a"].save()
    for key in ("p1a", "c1a", "p3b", "c2a"):
        match_score_predictions(match_id=matches[key].pk)
    with kickoff_check_off():
        Prediction.objects.filter(user=league.users[5], match=matches["p1b"]).update(home_score=0)
        Prediction.objects.filter(user=league.users[6]).delete()

    steps = stats_refresh()

    assert steps[0].name == path
    assert stats_differences() == []
    assert _leaderboard() == expected_leaderboard(_rows())


@pytest.mark.django_db
def test_views_are_empty_before_the_first_result() -> None:
    """With matches and predictions but no result, leaderboards are empty and summaries count
    predictions only."""
    match = make_match()
    make_prediction(make_user(), match, 2, 0)
    stats_refresh()
    assert list(UserTotal.objects.all()) == []
    assert list(MatchSummary.objects.values()) == [
        {
            "match_id": match.pk,
            "predictions_count": 1,
            "home_win_predictions": 1,
            "draw_predictions": 0,
            "away_win_predictions": 0,
            "exact_scores": 0,
            "average_points": None,
            "points_total": 0,
            "points_counted": 0,
        }
    ]


# --- refusing a blocking refresh --------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("view", MATERIALIZED_VIEWS, ids=[view.name for view in MATERIALIZED_VIEWS])
def test_refresh_refuses_view_without_unique_index(view: StatsRelation) -> None:
    """Without its unique index a view is not refreshed (a plain refresh would block
    readers): ViewNotRefreshable names the view, and nothing is refreshed."""
    with rolled_back():
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP INDEX {}")
                .format(sql.Identifier(f"{view.name}_key"))
                .as_string(cursor.connection)
            )
        with pytest.raises(ViewNotRefreshable) as excinfo:
            stats_refresh()
        assert not ViewRefresh.objects.exists()
    assert str(excinfo.value) == (
        f"the statistics cannot be refreshed: materialized view {view.name} has no unique index "
        f"on ({', '.join(view.key)}), so it cannot be refreshed concurrently. "
        "Run `manage.py migrate` and `manage.py check --database default`."
    )
    assert stats_refresh()


@pytest.mark.django_db
def test_refresh_refuses_missing_view() -> None:
    """A dropped view is not refreshed: ViewNotRefreshable says it does not exist."""
    with rolled_back():
        with connection.cursor() as cursor:
            cursor.execute("DROP MATERIALIZED VIEW stats_overall_rank")
        with pytest.raises(ViewNotRefreshable) as excinfo:
            stats_refresh()
    assert str(excinfo.value) == (
        "the statistics cannot be refreshed: materialized view stats_overall_rank does not "
        "exist. Run `manage.py migrate` and `manage.py check --database default`."
    )
    assert stats_refresh()


@pytest.mark.django_db
def test_refresh_refuses_a_summary_that_is_no_table() -> None:
    """A relation of the wrong kind (the match summaries as the view they once were) is named."""
    with rolled_back():
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {MATCH_SUMMARIES.name} RENAME TO summaries_aside")
            cursor.execute(f"CREATE MATERIALIZED VIEW {MATCH_SUMMARIES.name} AS SELECT 1 AS one")
        with pytest.raises(ViewNotRefreshable, match="stats_match_summary is a materialized view"):
            stats_refresh()


# --- readers and refreshes, on two real connections -------------------------------------------


@pytest.fixture
def reader() -> Iterator[psycopg.Connection[Any]]:
    """A second connection to the test database, as a reader in another process would have."""
    with psycopg.connect(**connector_params(), autocommit=False) as reader:
        reader.execute("SET lock_timeout = '1s'")
        reader.commit()
        yield reader


def _scored_league_of_one() -> User:
    """One user with one exact score, not yet in the (freshly refreshed, empty) views."""
    stats_refresh()
    user = make_user()
    match = make_match()
    make_prediction(user, match, 1, 0)
    complete(match, 1, 0)
    match_score_predictions(match_id=match.pk)
    return user


def _read_leaderboard(reader: psycopg.Connection[Any]) -> list[tuple[int, int, int]]:
    return reader.execute(
        "SELECT user_id, total_points, players_above + 1 FROM stats_user_total"
        " JOIN stats_overall_rank USING (total_points, exact_scores) ORDER BY user_id"
    ).fetchall()


@pytest.mark.django_db(transaction=True)
def test_reader_in_open_transaction_does_not_block_concurrent_refresh(
    reader: psycopg.Connection[Any], settings: Settings
) -> None:
    """A reader whose open transaction has read the view does not stop a concurrent refresh
    (which would otherwise hit its lock timeout); the reader keeps its snapshot meanwhile."""
    settings.STATS_REFRESH_LOCK_TIMEOUT = 2
    user = _scored_league_of_one()
    assert _read_leaderboard(reader) == []  # the reader's transaction stays open

    assert OVERALL.ranks.name in [step.name for step in stats_refresh()]
    assert reader.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    reader.commit()
    assert _read_leaderboard(reader) == [(user.pk, 3, 1)]


@pytest.mark.django_db(transaction=True)
def test_reader_blocks_plain_refresh(reader: psycopg.Connection[Any]) -> None:
    """Contrast that proves the test above can fail: the same reader makes a plain (not
    concurrent) refresh wait for its lock until the lock timeout."""
    _scored_league_of_one()
    assert _read_leaderboard(reader) == []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = '200ms'")
        with pytest.raises(OperationalError) as excinfo:
            cursor.execute("REFRESH MATERIALIZED VIEW stats_overall_rank")
        transaction.set_rollback(True)
    assert isinstance(excinfo.value.__cause__, pg_errors.LockNotAvailable)
    reader.commit()


@pytest.mark.django_db(transaction=True)
def test_reader_does_not_wait_for_a_running_concurrent_refresh(
    reader: psycopg.Connection[Any],
) -> None:
    """While a concurrent refresh holds its locks (its transaction still open), a reader with
    a 1 s lock timeout answers at once, with the rows from before the refresh."""
    user = _scored_league_of_one()
    with transaction.atomic():
        stats_refresh()
        assert _read_leaderboard(reader) == []
        reader.commit()
    assert _read_leaderboard(reader) == [(user.pk, 3, 1)]
    reader.commit()


@pytest.mark.django_db(transaction=True)
def test_running_plain_refresh_blocks_reader(reader: psycopg.Connection[Any]) -> None:
    """Contrast that proves the test above can fail: while a plain refresh holds its lock, the
    same reader waits and hits its lock timeout."""
    _scored_league_of_one()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("REFRESH MATERIALIZED VIEW stats_overall_rank")
        with pytest.raises(pg_errors.LockNotAvailable):
            _read_leaderboard(reader)
        reader.rollback()


@pytest.mark.django_db
@pytest.mark.parametrize("page_size", [1, 3, 50])
def test_pages_read_each_board_in_rank_order_ties_by_user_id(page_size: int) -> None:
    """Read page by page (each page found from the group holding its first position), every
    board (overall, each competition, each round) is its Python reference in rank order, tied
    users ordered by id, with the board's size on every page."""
    build_league()
    rows = _rows()
    references: dict[Board, dict[Any, dict[str, int]]] = {
        Board(OVERALL): {(user,): totals for user, totals in expected_leaderboard(rows).items()}
    }
    for (competition_id, user), totals in expected_competition_standings(rows).items():
        board = Board(COMPETITION, Competition.objects.get(pk=competition_id))
        references.setdefault(board, {})[(user,)] = totals
    for (competition_id, round, user), totals in expected_round_standings(rows).items():
        board = Board(ROUND, Competition.objects.get(pk=competition_id), round)
        references.setdefault(board, {})[(user,)] = totals
    assert len(references) > 3
    for board, reference in references.items():
        expected = sorted(
            (
                (totals["rank"], user, totals["total_points"])
                for (user,), totals in reference.items()
            ),
        )
        read = []
        for page in range(1, -(-len(expected) // page_size) + 1):
            found = leaderboard_page(board=board, page=page, page_size=page_size)
            assert found.total_entries == len(expected)
            read += [(e["rank"], e["user_id"], e["total_points"]) for e in found.entries]
        assert read == expected, board


# --- the refresh's lock, held by its transaction ----------------------------------------------


@pytest.fixture
def holder() -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(**connector_params(), autocommit=False) as holder:
        yield holder
        holder.rollback()


def _refresh_waits_for_the_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event = 'advisory'"
        )
        return bool(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_a_refresh_that_waited_for_the_lock_sees_what_its_holder_committed(
    holder: psycopg.Connection[Any],
) -> None:
    """The lock belongs to a transaction (nothing is left on the connection, as PgBouncer's
    transaction pooling needs). A refresh that finds it held waits, then starts a snapshot of
    its own: a result its holder wrote and committed is on the boards when the refresh ends."""
    user = _scored_league_of_one()
    stats_refresh()
    other = make_match()
    make_prediction(user, other, 2, 0)
    holder.execute("SELECT pg_advisory_xact_lock(hashtextextended('stats refresh', 0))")
    holder.execute(
        "UPDATE stats_match SET status = 'completed', home_score = 2, away_score = 0,"
        " completed_at = now() WHERE id = %s",
        [other.pk],
    )
    holder.execute("UPDATE stats_prediction SET points = 3 WHERE match_id = %s", [other.pk])
    waiting = threading.Thread(target=_refresh_in_own_connection)
    waiting.start()
    wait_until(_refresh_waits_for_the_lock, timeout=10, what="the refresh to wait for the lock")
    holder.commit()
    waiting.join(timeout=30)
    assert not waiting.is_alive()
    assert UserTotal.objects.get(user=user).total_points == 6
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
        assert cursor.fetchone()[0] == 0


def _refresh_in_own_connection() -> None:
    try:
        stats_refresh()
    finally:
        connection.close()
