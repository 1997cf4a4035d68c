"""stats/groups.py: a group's boards, with movement, equal a Python recomputation after random
results, corrections and membership changes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from stats import groups
from stats.audit import stats_differences
from stats.exceptions import PageOutOfRange
from stats.models import GroupMembership, Match, PlayerGroup, Prediction
from stats.refresh import stats_rebuild, stats_refresh
from stats.services import match_score_predictions
from tests.support.factories import complete, make_competition, make_match, make_user
from tests.support.movement import latest_rounds

pytestmark = pytest.mark.django_db


def python_board(member_ids: set[int]) -> list[tuple[int, int, int, int, int | None]]:
    """(user, rank, total, exact, previous rank) among members, from the predictions alone:
    totals from scored predictions of completed matches; the previous totals leave out the
    latest round that counted (tests.support.movement.latest_rounds)."""
    scored = list(
        Prediction.objects.filter(
            points__isnull=False, match__status=Match.Status.COMPLETED, user_id__in=member_ids
        ).values_list("user_id", "points", "match__competition_id", "match__round")
    )
    latest = latest_rounds().get(None)

    def totals(rows: list[tuple[int, int | None, int, int]]) -> dict[int, tuple[int, int, int]]:
        result: dict[int, tuple[int, int, int]] = {}
        for user, points, _, _ in rows:
            assert points is not None
            total, exact, count = result.get(user, (0, 0, 0))
            result[user] = (total + points, exact + (points == 3), count + 1)
        return result

    now = totals(scored)
    before = totals([row for row in scored if (row[2], row[3]) != latest])
    order = sorted(now, key=lambda user: (-now[user][0], -now[user][1], user))

    def rank_among(board: dict[int, tuple[int, int, int]], user: int) -> int:
        return 1 + sum(1 for other in board.values() if other[:2] > board[user][:2])

    return [
        (
            user,
            rank_among(now, user),
            now[user][0],
            now[user][1],
            rank_among(before, user) if latest is not None and user in before else None,
        )
        for user in order
    ]


def group_board(group: PlayerGroup) -> list[tuple[int, int, int, int, int | None]]:
    page = groups.group_board_page(group=group, competition=None, page=1, page_size=100)
    return [
        (e["user_id"], e["rank"], e["total_points"], e["exact_scores"], e["previous_rank"])
        for e in page.entries
    ]


SCORES = st.tuples(st.integers(0, 3), st.integers(0, 3))


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    predictions=st.lists(st.lists(SCORES, min_size=3, max_size=3), min_size=6, max_size=6),
    results=st.lists(st.tuples(st.integers(0, 2), SCORES), min_size=1, max_size=6),
    membership=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_group_boards_equal_a_python_recomputation(
    predictions: list[list[tuple[int, int]]],
    results: list[tuple[int, tuple[int, int]]],
    membership: list[bool],
) -> None:
    """After a random sequence of results and corrections, random members and membership
    changes, the group's board is the members' totals ranked in Python (points, then exact,
    ties share a rank), and each previous_rank the rank before the latest round."""
    competition = make_competition()
    users = [make_user() for _ in predictions]
    matches = [make_match(competition, round=n + 1) for n in range(3)]
    for user, scores in zip(users, predictions, strict=True):
        for match, (home, away) in zip(matches, scores, strict=True):
            Prediction.objects.create(user=user, match=match, home_score=home, away_score=away)
    for index, (home, away) in results:
        match = Match.objects.get(pk=matches[index].pk)
        complete(match, home, away)
        match_score_predictions(match_id=match.pk)
    stats_refresh()
    owner = users[0]
    group = groups.group_create(owner=owner, name="g")
    for user, member in zip(users[1:], membership[1:], strict=True):
        if member:
            groups.group_join(user=user, join_code=group.join_code)

    def member_ids() -> set[int]:
        return set(GroupMembership.objects.filter(group=group).values_list("user_id", flat=True))

    assert group_board(group) == python_board(member_ids())
    in_competition = groups.group_board_page(
        group=group, competition=competition, page=1, page_size=100
    )
    overall = groups.group_board_page(group=group, competition=None, page=1, page_size=100)
    assert in_competition.entries == overall.entries  # one competition: the same board
    # Membership changes: the owner removes a member, then leaves (handing the group over).
    others = sorted(member_ids() - {owner.pk})
    if others:
        groups.group_remove_member(owner_id=owner.pk, slug=group.slug, user_id=others[0])
        groups.group_leave(user_id=owner.pk, slug=group.slug)
        assert group_board(group) == python_board(member_ids())


def python_board_in(
    member_ids: set[int], competition_id: int | None
) -> list[tuple[int, int, int, int, int | None]]:
    """python_board on one board: overall (None) or in one competition, whose latest round is
    that competition's (tests.support.movement.latest_rounds)."""
    scored = list(
        Prediction.objects.filter(
            points__isnull=False, match__status=Match.Status.COMPLETED, user_id__in=member_ids
        ).values_list("user_id", "points", "match__competition_id", "match__round")
    )
    if competition_id is not None:
        scored = [row for row in scored if row[2] == competition_id]
    latest = latest_rounds().get(competition_id)

    def totals(rows: list[tuple[int, int | None, int, int]]) -> dict[int, tuple[int, int]]:
        result: dict[int, tuple[int, int]] = {}
        for user, points, _, _ in rows:
            assert points is not None
            total, exact = result.get(user, (0, 0))
            result[user] = (total + points, exact + (points == 3))
        return result

    now = totals(scored)
    before = totals([row for row in scored if (row[2], row[3]) != latest])
    order = sorted(now, key=lambda user: (-now[user][0], -now[user][1], user))

    def rank_among(board: dict[int, tuple[int, int]], user: int) -> int:
        return 1 + sum(1 for other in board.values() if other > board[user])

    return [
        (
            user,
            rank_among(now, user),
            *now[user],
            rank_among({u: before.get(u, (0, 0)) for u in now}, user) if user in before else None,
        )
        for user in order
    ]


def read_page(
    group: PlayerGroup, competition: Any, page: int, size: int
) -> tuple[list[dict[str, Any]], int] | str:
    """A page's entries and the board's size, or "past the end"."""
    try:
        read = groups.group_board_page(
            group=group, competition=competition, page=page, page_size=size
        )
    except PageOutOfRange:
        return "past the end"
    return read.entries, read.total_entries


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("result"), st.integers(0, 2), SCORES),
        st.tuples(st.just("void"), st.integers(0, 2)),
        st.tuples(st.just("join"), st.integers(1, 5)),
        st.tuples(st.just("leave"), st.integers(0, 5)),
        st.tuples(st.just("remove"), st.integers(1, 5)),
        st.tuples(st.just("refresh")),
        st.tuples(st.just("rebuild")),
    ),
    min_size=3,
    max_size=14,
)


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    predictions=st.lists(st.lists(SCORES, min_size=3, max_size=3), min_size=6, max_size=6),
    operations=OPERATIONS,
)
def test_large_and_small_group_boards_equal_a_python_recomputation(
    predictions: list[list[tuple[int, int]]],
    operations: list[tuple[Any, ...]],
) -> None:
    """A group kept by counts (the threshold lowered to 2 members) through random results,
    corrections, voids, refreshes, joins, leaves, removals and threshold crossings: after each
    refresh its boards, overall and in each competition, read from its counts (large path) and
    ranked at read time (small path), equal the Python recomputation, page by page (after a
    rebuild too: it recounts the groups' rows); and every
    statistics relation, the groups' included, equals its audit."""
    with override_settings(STATS_GROUP_COUNTS_MIN_MEMBERS=2):
        _play(predictions, operations)


def _play(predictions: list[list[tuple[int, int]]], operations: list[tuple[Any, ...]]) -> None:
    premier, cup = make_competition(), make_competition()
    users = [make_user() for _ in predictions]
    matches = [
        make_match(premier, round=1),
        make_match(premier, round=2),
        make_match(cup, round=1),
    ]
    for user, scores in zip(users, predictions, strict=True):
        for match, (home, away) in zip(matches, scores, strict=True):
            Prediction.objects.create(user=user, match=match, home_score=home, away_score=away)
    group = groups.group_create(owner=users[0], name="g")

    def member_ids() -> set[int]:
        return set(GroupMembership.objects.filter(group=group).values_list("user_id", flat=True))

    def check() -> None:
        large = PlayerGroup.objects.get(pk=group.pk)
        assert large.counts_kept == (len(member_ids()) >= 2)
        small = PlayerGroup.objects.get(pk=group.pk)
        small.counts_kept = False
        for competition in (None, premier, cup):
            expected = python_board_in(member_ids(), competition.pk if competition else None)
            for page, size in ((1, 100), (2, 2)):
                read = [
                    read_page(board_group, competition, page, size)
                    for board_group in (large, small)
                ]
                assert read[0] == read[1]
                if page > 1 and len(expected) <= size:
                    assert read[0] == "past the end"
                else:
                    assert read[0][1] == len(expected)
            entries = groups.group_board_page(
                group=large, competition=competition, page=1, page_size=100
            ).entries
            assert [
                (e["user_id"], e["rank"], e["total_points"], e["exact_scores"], e["previous_rank"])
                for e in entries
            ] == expected
        assert stats_differences() == []

    for operation in [*operations, ("refresh",)]:
        kind = operation[0]
        if kind in {"result", "void"}:
            match = Match.objects.get(pk=matches[operation[1]].pk)
            if kind == "result":
                complete(match, *operation[2])
            else:
                match.status = Match.Status.CANCELLED
                match.save()
            match_score_predictions(match_id=match.pk)
        elif kind == "join":
            groups.group_join(user=users[operation[1]], join_code=group.join_code)
        elif kind == "leave" and users[operation[1]].pk in member_ids():
            if groups.group_leave(user_id=users[operation[1]].pk, slug=group.slug) is None:
                return  # the last member left: the group is gone
            group.refresh_from_db()
        elif kind == "remove" and users[operation[1]].pk in member_ids():
            group.refresh_from_db()
            if users[operation[1]].pk != group.owner_id:
                groups.group_remove_member(
                    owner_id=group.owner_id, slug=group.slug, user_id=users[operation[1]].pk
                )
        elif kind in {"refresh", "rebuild"}:
            stats_refresh() if kind == "refresh" else stats_rebuild()
            check()
