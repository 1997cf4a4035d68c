"""Statistics kept by difference: after any sequence of writes, and the jobs, every relation
equals its recomputation from scratch (stats/audit.py) and every board's ranks and pages equal a
recomputation in Python; when a write goes behind the log's back, `rebuild_stats --check` says so
and `rebuild_stats` repairs it."""

from __future__ import annotations

import io
import threading
from collections import defaultdict
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
from hypothesis import HealthCheck, Phase, given
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
    Competition,
    CompetitionTotal,
    Match,
    MatchSummary,
    Prediction,
    RoundTotal,
    UserTotal,
)
from stats.processes import wait_until
from stats.refresh import stats_refresh
from stats.relations import COMPETITION, OVERALL, ROUND
from stats.selectors import Board, leaderboard_page, user_board_standing, user_stats
from stats.services import match_score_predictions
from tests.support.factories import (
    complete,
    make_competition,
    make_match,
    make_prediction,
    make_team,
    make_user,
)
from tests.support.leagues import one_scored_match
from tests.support.movement import latest_rounds

goals = st.integers(min_value=0, max_value=4)


def run_the_jobs() -> None:
    """What the workers would do next: score every settled match whose points are stale, then
    refresh once."""
    for match_id in Match.objects.settled().with_stale_points().values_list("pk", flat=True):
        match_score_predictions(match_id=match_id)
    stats_refresh()


# rank, user, points, scored, exact, outcomes, previous rank
Standing = tuple[int, int, int, int, int, int, int | None]


def expected_boards() -> dict[Board, list[Standing]]:
    """Every board with a player on it, recomputed in Python from the predictions: only scored
    predictions of completed matches count; RANK() by points then exact scores (1, 1, 3); rows
    in rank order, ties by user id. The previous rank: the same ranking of every player's
    totals less their predictions of the board's latest round (None for a player with nothing
    before it, and on a round's board)."""
    totals: dict[tuple[str, int | None, int | None], dict[int, list[int]]] = defaultdict(
        lambda: defaultdict(lambda: [0, 0, 0, 0])
    )
    # The same totals without the board's latest round: points, scored, exact.
    before: dict[tuple[str, int | None, int | None], dict[int, list[int]]] = defaultdict(
        lambda: defaultdict(lambda: [0, 0, 0])
    )
    latest = latest_rounds()
    counted = Prediction.objects.filter(
        points__isnull=False, match__status=Match.Status.COMPLETED
    ).values_list(
        "user_id",
        "points",
        "home_score",
        "away_score",
        "match__competition_id",
        "match__round",
        "match__home_score",
        "match__away_score",
    )
    for user, points, home, away, competition, round, result_home, result_away in counted:
        assert points is not None
        assert result_home is not None
        assert result_away is not None
        exact = (home, away) == (result_home, result_away)
        outcome = (home > away) - (home < away) == (result_home > result_away) - (
            result_home < result_away
        )
        boards_of_prediction: list[tuple[str, int | None, int | None]] = [
            ("overall", None, None),
            ("competition", competition, None),
            ("round", competition, round),
        ]
        for board in boards_of_prediction:
            row = totals[board][user]
            row[0] += points
            row[1] += 1
            row[2] += int(exact)
            row[3] += int(outcome)
            previous = before[board][user]
            if board[0] != "round" and latest.get(board[1]) != (competition, round):
                previous[0] += points
                previous[1] += 1
                previous[2] += int(exact)
    grains = {"overall": OVERALL, "competition": COMPETITION, "round": ROUND}
    boards: dict[Board, list[Standing]] = {}
    for (grain, board_competition, board_round), players in totals.items():
        ordered = sorted(players.items(), key=lambda item: (-item[1][0], -item[1][2], item[0]))
        earlier = before[(grain, board_competition, board_round)]
        rows: list[Standing] = []
        for user, (points, scored, exact_scores, outcomes) in ordered:
            above = sum((p, e) > (points, exact_scores) for p, _, e, _ in players.values())
            was_points, was_scored, was_exact = earlier[user]
            previous_rank = (
                1 + sum((p, e) > (was_points, was_exact) for p, _, e in earlier.values())
                if was_scored
                else None
            )
            rows.append((above + 1, user, points, scored, exact_scores, outcomes, previous_rank))
        league = (
            None if board_competition is None else Competition.objects.get(pk=board_competition)
        )
        boards[Board(grains[grain], league, board_round)] = rows
    return boards


def assert_boards_equal_a_recomputation(page_size: int = 2) -> None:
    """Every board, read page by page as the API reads it, and every player's standing (and
    their overall and competition standings in their stats), equal the recomputation; a board
    nobody is on is empty."""
    expected = expected_boards()
    for board, rows in expected.items():
        read: list[Standing] = []
        for page in range(1, len(rows) // page_size + 2):
            if page > 1 and (page - 1) * page_size >= len(rows):
                break
            found = leaderboard_page(board=board, page=page, page_size=page_size)
            assert found.total_entries == len(rows), board
            read += [
                (
                    entry["rank"],
                    entry["user_id"],
                    entry["total_points"],
                    entry["predictions_scored"],
                    entry["exact_scores"],
                    entry["correct_outcomes"],
                    entry["previous_rank"],
                )
                for entry in found.entries
            ]
        assert read == rows, board
        for rank, user, *_, previous_rank in rows:
            standing = user_board_standing(board=board, user_id=user)
            assert standing is not None, (board, user)
            assert (standing["rank"], standing["previous_rank"]) == (rank, previous_rank), (
                board,
                user,
            )
            if board.round is None:
                stats = user_stats(user_id=user)
                assert stats is not None
                mine = (
                    stats.overall
                    if board.competition is None
                    else next(
                        row
                        for row in stats.competitions
                        if row["competition_slug"] == board.competition.slug
                    )
                )
                assert (mine["rank"], mine["previous_rank"]) == (rank, previous_rank)
    if not any(board.grain is OVERALL for board in expected):
        assert leaderboard_page(board=Board(OVERALL), page=1, page_size=5).entries == []


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
        try:
            match.refresh_from_db()
        except Match.DoesNotExist:
            return None  # truncated away
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

    @rule(match=matches, home=goals, away=goals)
    def raw_sql_result(self, match: Match, home: int, away: int) -> None:
        """A result written in SQL (no job queued): the statistics follow the match as it is."""
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE stats_match SET status = 'completed', home_score = %s, away_score = %s,"
                " completed_at = now() WHERE id = %s",
                [home, away, match.pk],
            )

    @rule(table=st.sampled_from(["stats_prediction", "stats_match"]))
    def truncate(self, table: str) -> None:
        """A TRUNCATE fires no row trigger: the next refresh recounts everything."""
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no foreign-key check pending
            cursor.execute(f"TRUNCATE {table} CASCADE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")

    @invariant()
    def statistics_equal_their_recomputation(self) -> None:
        run_the_jobs()
        assert stats_differences() == []
        assert_boards_equal_a_recomputation()


@pytest.mark.django_db
def test_statistics_equal_a_recomputation_after_any_writes() -> None:
    """The stateful property: whatever the writes, after the jobs, every relation is exact and
    every board's ranks and pages are what a recomputation gives. Derandomized (the same
    examples every run) and without the shrink phase, whose length has no bound: a failure
    prints its counterexample (at most 20 steps) at once rather than a timeout. To shrink one,
    add Phase.shrink locally."""
    run_state_machine_as_test(
        StatisticsMachine,
        settings=hypothesis_settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# --- movement (previous_rank) ---------------------------------------------------------------

# What happens to a match: a result (or a corrected one), a void, or the result withdrawn.
MatchEvent = tuple[int, str, int, int]
MATCH_EVENTS = st.tuples(
    st.integers(0, 4), st.sampled_from(["result", "result", "void", "withdrawn"]), goals, goals
)


def _play(events: list[MatchEvent], predictions: list[list[tuple[int, int] | None]]) -> int:
    """Five matches in two competitions (two in one round, the first competition's rounds 1
    and 2, the second's round 1) predicted as `predictions` says (a row per player, None: no
    prediction), then each event in turn, the jobs, and after each: every relation (the latest
    rounds and previous counts included) equals its recomputation and every board and standing,
    previous_rank included, equals the Python boards. How many previous ranks were not null."""
    first, second = make_competition(), make_competition()
    home, away = make_team(), make_team()
    matches = [
        make_match(competition, round=round, home_team=home, away_team=away)
        for competition, round in ((first, 1), (first, 1), (first, 2), (second, 1), (second, 2))
    ]
    for row in predictions:
        user = make_user()
        for match, scores in zip(matches, row, strict=True):
            if scores is not None:
                make_prediction(user, match, *scores)
    ranked = 0
    for index, event, home_score, away_score in events:
        match = Match.objects.get(pk=matches[index].pk)
        if event == "result":
            complete(match, home_score, away_score)
        else:
            match.status = Match.Status.CANCELLED if event == "void" else Match.Status.SCHEDULED
            match.home_score = match.away_score = None
            match.save()
        run_the_jobs()
        assert stats_differences() == []
        assert_boards_equal_a_recomputation(page_size=3)
        ranked += sum(
            row[-1] is not None
            for board, rows in expected_boards().items()
            if board.round is None
            for row in rows
        )
    return ranked


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    predictions=st.lists(
        st.lists(st.none() | st.tuples(goals, goals), min_size=5, max_size=5),
        min_size=2,
        max_size=6,
    ),
    events=st.lists(MATCH_EVENTS, min_size=1, max_size=8),
)
def test_previous_ranks_equal_a_python_recomputation(
    predictions: list[list[tuple[int, int] | None]], events: list[MatchEvent]
) -> None:
    """Random results, corrections, voids and withdrawals: after each, previous_rank on every
    page and standing is the rank of the totals less the board's latest round, recomputed in
    Python, and the previous counts equal their recomputation (each example rolled back)."""
    with transaction.atomic():
        _play(events, predictions)
        transaction.set_rollback(True)


# Everyone predicts everything (one player only the second competition's round 2): each path of
# the latest round, one at a time. Matches: 0, 1 the first competition's round 1, 2 its round 2,
# 3 the second competition's round 1, 4 its round 2.
EVERYONE: list[list[tuple[int, int] | None]] = [
    [(1, 0), (2, 2), (0, 1), (1, 1), (3, 0)],
    [(2, 0), (0, 0), (0, 2), (1, 0), (1, 2)],
    [(0, 3), (1, 1), (2, 1), (0, 0), (2, 2)],
    [None, None, None, None, (1, 0)],
]
PATHS: dict[str, list[MatchEvent]] = {
    # A result in the latest round: totals and that round move together, previous unchanged.
    "a second result in the latest round": [
        (3, "result", 1, 1),
        (0, "result", 1, 0),
        (1, "result", 1, 1),
    ],
    # The first result of a new round: everyone in the old and the new round moves.
    "the first result of a new round": [(0, "result", 1, 0), (2, "result", 0, 1)],
    # A correction of an older round leaves the latest round where it is (the highest): the
    # corrected players' previous totals move.
    "a correction of an older round": [
        (0, "result", 1, 0),
        (2, "result", 0, 1),
        (0, "result", 2, 0),
    ],
    # The overall board's latest round moves between competitions, a competition's does not.
    "results alternating between competitions": [
        (0, "result", 1, 0),
        (3, "result", 1, 1),
        (2, "result", 0, 2),
        (4, "result", 1, 0),
        (1, "result", 0, 0),
    ],
    # A void or a correction of an older round that stays older: the latest round does not
    # move, the previous totals do (the difference is not all in the latest round).
    "a void of an older round": [
        (0, "result", 1, 0),
        (1, "result", 2, 2),
        (2, "result", 0, 1),
        (0, "void", 0, 0),
    ],
    # A void or a withdrawn result makes an earlier round the latest again, then none.
    "a void and a withdrawal": [
        (0, "result", 1, 0),
        (2, "result", 0, 1),
        (2, "void", 0, 0),
        (0, "withdrawn", 0, 0),
        (4, "result", 1, 0),
    ],
}


@pytest.mark.django_db
@pytest.mark.parametrize("events", PATHS.values(), ids=PATHS.keys())
def test_previous_ranks_follow_each_path_of_the_latest_round(events: list[MatchEvent]) -> None:
    """Each way the latest round can move, step by step; the boards show some movement (a
    previous rank) along the way, and the player with nothing before it has none."""
    assert _play(events, EVERYONE) > 0


@pytest.mark.django_db
def test_a_player_gone_from_a_board_whose_latest_round_moved_leaves_the_previous_counts() -> None:
    """In one refresh a new round's first result moves the latest round, and the only result
    a player scored in is withdrawn: they stood in the previous counts (their points were
    before the latest round) and now stand on no board at all."""
    competition = make_competition()
    first, second, third = (make_match(competition, round=round) for round in (1, 2, 3))
    gone, stays = make_user(), make_user()
    make_prediction(gone, first, 1, 0)
    for match in (first, second, third):
        make_prediction(stays, match, 0, 0)
    complete(first, 1, 0)
    complete(second, 0, 0)
    run_the_jobs()
    with connection.cursor() as cursor:  # only `gone` scored before the latest round (2)
        cursor.execute("SELECT sum(players) FROM stats_overall_previous_count")
        assert cursor.fetchone()[0] == 1
    first.status, first.home_score, first.away_score = Match.Status.SCHEDULED, None, None
    first.save()
    complete(third, 0, 0)
    run_the_jobs()
    assert not UserTotal.objects.filter(user=gone).exists()
    assert stats_differences() == []
    assert_boards_equal_a_recomputation(page_size=3)


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
    assert UserTotal.objects.count() == 3
    for match in (first, second):
        match.status = Match.Status.CANCELLED
        match.save()
    run_the_jobs()
    assert not UserTotal.objects.exists()
    assert not CompetitionTotal.objects.exists()
    assert not RoundTotal.objects.exists()
    assert stats_differences() == []
    assert leaderboard_page(board=Board(OVERALL), page=1, page_size=10).total_entries == 0


@pytest.mark.django_db
def test_a_match_moved_to_another_round_moves_its_points() -> None:
    """Editing a match's round re-ranks both rounds; the totals stay."""
    first, _second, _users = _scored_round()
    before = list(UserTotal.objects.values_list("user_id", "total_points"))
    Match.objects.filter(pk=first.pk).update(round=2)
    run_the_jobs()
    rounds = RoundTotal.objects.order_by("round").values_list("round", flat=True)
    assert list(rounds.distinct()) == [1, 2]
    assert list(UserTotal.objects.values_list("user_id", "total_points")) == before
    assert stats_differences() == []
    assert_boards_equal_a_recomputation()


@pytest.mark.django_db
def test_deleting_one_scored_prediction_takes_exactly_its_points_away() -> None:
    """A scored prediction deleted: its player's totals drop by its points on every board, the
    match summary by one prediction, and the ranks follow."""
    first, _second, users = _scored_round()
    alice = users[0]
    before = UserTotal.objects.get(user=alice)
    prediction = Prediction.objects.get(user=alice, match=first)
    assert prediction.points == 3
    prediction.delete()
    run_the_jobs()
    after = UserTotal.objects.get(user=alice)
    assert (after.total_points, after.predictions_scored, after.exact_scores) == (
        before.total_points - 3,
        before.predictions_scored - 1,
        before.exact_scores - 1,
    )
    assert MatchSummary.objects.get(match=first).predictions_count == 2
    assert stats_differences() == []
    assert_boards_equal_a_recomputation(page_size=1)


@pytest.mark.django_db
def test_deleting_a_user_takes_them_off_every_board() -> None:
    """A user deleted (their predictions go with them): no total of theirs is left, the others
    move up, and the summaries count them no more."""
    first, _second, users = _scored_round()
    users[0].delete()
    run_the_jobs()
    assert not UserTotal.objects.filter(user_id=users[0].pk).exists()
    assert not RoundTotal.objects.filter(user_id=users[0].pk).exists()
    assert MatchSummary.objects.get(match=first).predictions_count == 2
    board = leaderboard_page(board=Board(OVERALL), page=1, page_size=10)
    assert [entry["user_id"] for entry in board.entries] == [users[1].pk, users[2].pk]
    assert board.entries[0]["rank"] == 1
    assert stats_differences() == []
    assert_boards_equal_a_recomputation()


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
    assert not UserTotal.objects.exists()
    assert not RoundTotal.objects.exists()
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
    """A points write with the table's user triggers disabled (as a restore would) logs
    nothing: --check prints each difference, stored vs recomputed (the points against the tiers
    too), and exits 1; rebuild_stats repairs the statistics, after which they are clean."""
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
    stats_refresh()  # nothing was logged: the refresh cannot know

    output, error = _check()
    assert error is not None
    assert error.returncode == 1
    assert "rebuild_stats --rescore` repairs them" in str(error)
    key = f"competition_id={first.competition_id}, round=1, user_id={users[0].pk}"
    assert f"{ROUND.totals.name} ({key}): stored vs recomputed: total_points 3 vs 0\n" in output
    assert f"stats_user_total (user_id={users[0].pk}): stored vs recomputed: total_points" in (
        output
    )
    assert "stats_overall_count (total_points=" in output
    assert "stats_overall_rank (total_points=" in output
    prediction = Prediction.objects.get(match=first, user=users[0])
    assert f"stats_prediction (id={prediction.pk}): points stored 0 vs 3" in output
    assert f"stats_match_summary (match_id={first.pk}): stored vs recomputed: average_points" in (
        output
    )

    rebuilt = io.StringIO()
    call_command("rebuild_stats", stdout=rebuilt, stderr=io.StringIO())
    assert rebuilt.getvalue().splitlines()[-1].startswith("statistics rebuilt in ")
    assert stats_differences() == []  # the statistics follow the points as they are
    output, error = _check()
    assert error is not None
    assert "points stored 0 vs 3" in output

    rebuilt = io.StringIO()
    call_command("rebuild_stats", "--rescore", stdout=rebuilt, stderr=io.StringIO())
    assert "re-scored every settled match: 1 prediction(s) changed" in rebuilt.getvalue()
    assert _check()[1] is None
    assert_boards_equal_a_recomputation()


@pytest.mark.django_db
def test_check_covers_the_movement_and_rebuild_repairs_it() -> None:
    """The latest rounds and the previous counts and ranks are audited as every relation is:
    rows changed behind the refresh's back are reported, and rebuild_stats puts them right."""
    _play([(3, "result", 1, 1), (0, "result", 1, 0)], EVERYONE)
    assert _check()[1] is None
    with connection.cursor() as cursor:
        cursor.execute("UPDATE stats_latest_round SET round = round + 7")
        cursor.execute("UPDATE stats_overall_previous_count SET players = players + 1")
        cursor.execute(
            "INSERT INTO stats_competition_previous_count"
            " SELECT competition_id, 99, 9, 1 FROM stats_latest_round"
        )
        cursor.execute("REFRESH MATERIALIZED VIEW stats_overall_previous_rank")
    output, error = _check()
    assert error is not None
    for relation in (
        "stats_latest_round (competition_id=",
        "stats_overall_previous_count (total_points=",
        "stats_overall_previous_rank (total_points=",
        "stats_competition_previous_count (competition_id=",
    ):
        assert relation in output
    call_command("rebuild_stats", stdout=io.StringIO(), stderr=io.StringIO())
    assert _check()[1] is None
    assert_boards_equal_a_recomputation()


@pytest.mark.django_db
def test_check_reports_points_scored_on_other_tiers(settings: Any) -> None:
    """Stored points left on the old scoring tiers are a difference --check reports; --rescore
    puts them on the tiers in force, and the statistics follow."""
    _scored_round()
    settings.STATS_POINTS_EXACT = 5
    output, error = _check()
    assert error is not None
    assert "points stored 3 vs 5 by the scoring tiers in force" in output
    call_command("rebuild_stats", "--rescore", stdout=io.StringIO(), stderr=io.StringIO())
    assert _check()[1] is None
    assert list(UserTotal.objects.values_list("total_points", flat=True)) == [5, 5, 0]


# --- the log and snapshots, on real connections -------------------------------------------------


@pytest.fixture
def blocker() -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(**connector_params(), autocommit=False) as blocker:
        yield blocker
        blocker.rollback()


@pytest.mark.django_db(transaction=True)
def test_a_write_committed_during_a_refresh_waits_for_the_follow_up(
    blocker: psycopg.Connection[Any],
) -> None:
    """The refresh consumes the changes its snapshot sees, and only those: a result committed
    while it runs is not in its boards, and its log rows are left for the next refresh."""
    competition = make_competition()
    alice, bob = make_user("alice"), make_user("bob")
    early, late = (
        make_match(competition, kickoff_at=timezone.now() + timedelta(hours=1)) for _ in range(2)
    )
    make_prediction(alice, early, 1, 0)
    make_prediction(bob, late, 1, 0)
    complete(early, 1, 0)
    match_score_predictions(match_id=early.pk)

    # Hold the overall rank view's lock: the refresh takes its snapshot, then waits there.
    blocker.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {OVERALL.ranks.name}")
    refresh = threading.Thread(target=_refresh_in_own_connection)
    refresh.start()
    wait_until(_refresh_is_waiting, timeout=10, what="the refresh to wait for the board")
    complete(late, 1, 0)
    match_score_predictions(match_id=late.pk)
    blocker.rollback()
    refresh.join(timeout=20)

    assert list(UserTotal.objects.values_list("user__username", flat=True)) == ["alice"]
    stats_refresh()
    assert sorted(UserTotal.objects.values_list("user__username", flat=True)) == ["alice", "bob"]
    assert stats_differences() == []


@pytest.mark.django_db(transaction=True)
def test_two_scorings_of_one_round_never_wait_for_each_other(
    blocker: psycopg.Connection[Any],
) -> None:
    """Writers only insert into the change log: while one transaction has scored a match and
    not committed, another scores a second match of the same round (and deletes a scored
    prediction of the first's players) within a 1 s lock timeout; both commit, and the refresh
    after them is exact."""
    competition = make_competition()
    first, second = make_match(competition, round=1), make_match(competition, round=1)
    users = [make_user() for _ in range(5)]
    for user in users:
        make_prediction(user, first, 1, 0)
        make_prediction(user, second, 2, 2)
    complete(first, 1, 0)
    complete(second, 2, 2)
    blocker.execute(
        "UPDATE stats_prediction SET points = 3 WHERE match_id = %s", [first.pk]
    )  # the first scoring, left uncommitted
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '1s'")
        match_score_predictions(match_id=second.pk)
        Prediction.objects.filter(match=second, user=users[0]).delete()
        cursor.execute("RESET lock_timeout")
    blocker.commit()
    run_the_jobs()
    assert stats_differences() == []
    assert UserTotal.objects.get(user=users[1]).total_points == 3 + 3
    assert UserTotal.objects.get(user=users[0]).total_points == 3


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
    """Back to the four views of 0006 (every reverse works), a scored league written there, then
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
    assert RoundTotal.objects.count() == 4
    assert UserTotal.objects.count() == 4
    assert MatchSummary.objects.count() == 3
    assert stats_differences() == []


READ_ONLY_WRITES: dict[str, Callable[[], object]] = {
    "queryset update": lambda: UserTotal.objects.update(total_points=99),
    "queryset delete": lambda: CompetitionTotal.objects.all().delete(),
    "bulk_create": lambda: MatchSummary.objects.bulk_create([MatchSummary(match_id=1)]),
    "create": lambda: RoundTotal.objects.create(id="1:1:1"),
    "save": lambda: UserTotal.objects.get().save(),
    "instance delete": lambda: UserTotal.objects.get().delete(),
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
    assert UserTotal.objects.get().total_points == 3
    assert CompetitionTotal.objects.count() == 1
    assert stats_differences() == before == []
