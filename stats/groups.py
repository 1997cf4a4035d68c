"""Private groups: their rules (create, join by code, leave, hand over, remove a member, rotate
the code) and their boards, ranked at read time from the players' totals."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.text import slugify

from stats.exceptions import (
    GroupFull,
    GroupJoinThrottled,
    GroupNotFound,
    GroupRuleBroken,
    PageOutOfRange,
)
from stats.models import (
    Competition,
    GroupJoinFailure,
    GroupMembership,
    PlayerGroup,
    ViewRefresh,
)
from stats.relations import COMPETITION_BOARDS, OVERALL_BOARD

MAX_MEMBERS = 100_000
# Failed joins a player may make in JOIN_FAILURE_WINDOW: ten guesses at a 96-bit code.
JOIN_FAILURE_LIMIT = 10
JOIN_FAILURE_WINDOW = timedelta(minutes=15)
# 12 random bytes: 96 bits, 16 URL-safe characters.
JOIN_CODE_BYTES = 12


def _new_join_code() -> str:
    return secrets.token_urlsafe(JOIN_CODE_BYTES)


def _new_slug(name: str) -> str:
    # The random part keeps slugs unique without a lookup; slugs are not secret (non-members
    # get 404 whatever the slug).
    return f"{slugify(name)[:28] or 'group'}-{secrets.token_hex(4)}"


# --- The rules ---------------------------------------------------------------------------------


@transaction.atomic
def group_create(*, owner: AbstractBaseUser, name: str) -> PlayerGroup:
    """A new group named `name`; its creator is its owner and first member."""
    group = PlayerGroup.objects.create(
        slug=_new_slug(name), name=name, owner_id=owner.pk, join_code=_new_join_code()
    )
    GroupMembership.objects.create(group=group, user_id=owner.pk)
    return group


def group_for_member(*, user_id: int, slug: str) -> PlayerGroup:
    """The group with this slug if the user is one of its members; else GroupNotFound (one
    answer for "no such group" and "not yours": which one is nobody's business)."""
    group = PlayerGroup.objects.filter(slug=slug, memberships__user_id=user_id).first()
    if group is None:
        raise GroupNotFound(f"you are in no group with the slug {slug!r}")
    return group


def group_join(*, user: AbstractBaseUser, join_code: str) -> PlayerGroup:
    """Join the group with this code; joining twice changes nothing.

    A player who gave JOIN_FAILURE_LIMIT unknown codes within JOIN_FAILURE_WINDOW is refused
    (GroupJoinThrottled) until the oldest of them is out of the window, right code or not: a
    96-bit code cannot be guessed at ten tries a quarter of an hour.
    """
    since = timezone.now() - JOIN_FAILURE_WINDOW
    failures = GroupJoinFailure.objects.filter(user_id=user.pk, attempted_at__gt=since)
    if failures.count() >= JOIN_FAILURE_LIMIT:
        raise GroupJoinThrottled(
            f"too many unknown join codes; try again within {JOIN_FAILURE_WINDOW.seconds // 60}"
            " minutes"
        )
    group = PlayerGroup.objects.filter(join_code=join_code).first()
    if group is None:
        GroupJoinFailure.objects.create(user_id=user.pk)
        raise GroupNotFound("no group has this join code")
    with transaction.atomic():
        # The group row is locked so two joins cannot both take its last place.
        PlayerGroup.objects.select_for_update().filter(pk=group.pk).first()
        if GroupMembership.objects.filter(group=group, user_id=user.pk).exists():
            return group
        if GroupMembership.objects.filter(group=group).count() >= MAX_MEMBERS:
            raise GroupFull(f"the group {group.slug!r} has {MAX_MEMBERS:,} members, its most")
        try:
            with transaction.atomic():
                GroupMembership.objects.create(group=group, user_id=user.pk)
        except IntegrityError:
            pass  # joined meanwhile by another request of the same player
    return group


def _oldest_other_member(group: PlayerGroup, user_id: int) -> int | None:
    return (
        GroupMembership.objects.filter(group=group)
        .exclude(user_id=user_id)
        .order_by("joined_at", "id")
        .values_list("user_id", flat=True)
        .first()
    )


@transaction.atomic
def group_leave(*, user_id: int, slug: str) -> PlayerGroup | None:
    """Leave a group. An owner who leaves hands the group to the longest-standing member; the
    last member's leaving deletes it. The group as it is now, or None once deleted."""
    group = group_for_member(user_id=user_id, slug=slug)
    group = PlayerGroup.objects.select_for_update().get(pk=group.pk)
    if group.owner_id == user_id:
        successor = _oldest_other_member(group, user_id)
        if successor is None:
            group.delete()
            return None
        group.owner_id = successor
        group.save(update_fields=["owner"])
    GroupMembership.objects.filter(group=group, user_id=user_id).delete()
    return group


def _owned(*, owner_id: int, slug: str) -> PlayerGroup:
    group = group_for_member(user_id=owner_id, slug=slug)
    if group.owner_id != owner_id:
        raise GroupRuleBroken("only the group's owner may do this")
    return PlayerGroup.objects.select_for_update().get(pk=group.pk)


@transaction.atomic
def group_hand_over(*, owner_id: int, slug: str, new_owner_id: int) -> PlayerGroup:
    """The owner makes another member the owner (and stays a member)."""
    group = _owned(owner_id=owner_id, slug=slug)
    if not GroupMembership.objects.filter(group=group, user_id=new_owner_id).exists():
        raise GroupRuleBroken(f"user {new_owner_id} is not a member of this group")
    group.owner_id = new_owner_id
    group.save(update_fields=["owner"])
    return group


@transaction.atomic
def group_remove_member(*, owner_id: int, slug: str, user_id: int) -> PlayerGroup:
    """The owner removes a member (not themself: an owner leaves, which hands the group over)."""
    group = _owned(owner_id=owner_id, slug=slug)
    if user_id == owner_id:
        raise GroupRuleBroken("the owner cannot remove themself; leave the group instead")
    removed, _ = GroupMembership.objects.filter(group=group, user_id=user_id).delete()
    if not removed:
        raise GroupRuleBroken(f"user {user_id} is not a member of this group")
    return group


@transaction.atomic
def group_rotate_join_code(*, owner_id: int, slug: str) -> PlayerGroup:
    """A new join code for the group; the old one stops working at once."""
    group = _owned(owner_id=owner_id, slug=slug)
    group.join_code = _new_join_code()
    group.save(update_fields=["join_code"])
    return group


# --- Reads -------------------------------------------------------------------------------------


def group_member_count(*, group: PlayerGroup) -> int:
    return GroupMembership.objects.filter(group=group).count()


def player_group_list(*, user_id: int) -> list[dict[str, Any]]:
    """The player's groups by name: slug, name, member count, whether they own it."""
    return [
        {
            "slug": group.slug,
            "name": group.name,
            "members": group.member_count,
            "is_owner": group.owner_id == user_id,
        }
        # The count joins every membership: filtering on the same join would count only theirs.
        for group in PlayerGroup.objects.filter(
            pk__in=GroupMembership.objects.filter(user_id=user_id).values("group_id")
        )
        .annotate(member_count=Count("memberships"))
        .order_by("name", "id")
    ]


def group_members(*, group: PlayerGroup) -> list[dict[str, Any]]:
    rows = (
        GroupMembership.objects.filter(group=group)
        .order_by("joined_at", "id")
        .values("user_id", "joined_at", username=F("user__username"))
    )
    return [dict(row) for row in rows]


@dataclass(frozen=True)
class GroupBoardPage:
    group: PlayerGroup
    competition: Competition | None
    entries: list[dict[str, Any]]
    page: int
    page_size: int
    total_entries: int
    refreshed_at: Any

    @property
    def total_pages(self) -> int:
        return max(1, math.ceil(self.total_entries / self.page_size))


# Ranked at read time among the members: the totals are read through the membership's
# (group, user) index, ranked and numbered exactly as the league's boards are (RANK() by points
# then exact scores; position ties by user id). Only players with a scored prediction there.
_GROUP_BOARD = """
WITH board AS (
    SELECT
        t.user_id, t.total_points, t.predictions_scored, t.exact_scores, t.correct_outcomes,
        rank() OVER (ORDER BY t.total_points DESC, t.exact_scores DESC)::integer AS rank,
        row_number() OVER (
            ORDER BY t.total_points DESC, t.exact_scores DESC, t.user_id
        )::integer AS position,
        count(*) OVER ()::integer AS total_entries
    FROM stats_groupmembership AS m
    JOIN {totals} AS t ON t.user_id = m.user_id {competition}
    WHERE m.group_id = %(group)s AND t.predictions_scored > 0
)
SELECT b.rank, b.user_id, u.username, b.total_points, b.predictions_scored, b.exact_scores,
       b.correct_outcomes, b.position, b.total_entries
FROM board AS b JOIN auth_user AS u ON u.id = b.user_id
WHERE b.position > %(offset)s AND b.position <= %(offset)s + %(limit)s
ORDER BY b.position
"""
# The players' totals: overall, and per competition.
OVERALL_TOTALS = "stats_leaderboard"
COMPETITION_TOTALS = "stats_competition_total"


def _board_query(*, competition: Competition | None) -> str:
    if competition is None:
        return _GROUP_BOARD.format(totals=OVERALL_TOTALS, competition="")
    return _GROUP_BOARD.format(
        totals=COMPETITION_TOTALS, competition="AND t.competition_id = %(competition)s"
    )


def _group_board_size(group: PlayerGroup, competition: Competition | None) -> int:
    totals = OVERALL_TOTALS if competition is None else COMPETITION_TOTALS
    where = "" if competition is None else "AND t.competition_id = %(competition)s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM stats_groupmembership AS m JOIN {totals} AS t"
            f" ON t.user_id = m.user_id {where}"
            " WHERE m.group_id = %(group)s AND t.predictions_scored > 0",
            {"group": group.pk, "competition": competition.pk if competition else None},
        )
        (size,) = cursor.fetchone()
    return int(size)


def group_board_page(
    *, group: PlayerGroup, competition: Competition | None, page: int, page_size: int
) -> GroupBoardPage:
    """One page of a group's board (overall, or in a competition), ranked among its members.

    Raises PageOutOfRange past the last page; page 1 of an empty board is an empty page.
    """
    offset = (page - 1) * page_size
    with connection.cursor() as cursor:
        cursor.execute(
            _board_query(competition=competition),
            {
                "group": group.pk,
                "competition": competition.pk if competition else None,
                "offset": offset,
                "limit": page_size,
            },
        )
        columns = [column.name for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    total_entries = rows[0]["total_entries"] if rows else _group_board_size(group, competition)
    if page > 1 and offset >= total_entries:
        raise PageOutOfRange(
            f"page {page} is past the end: the board has "
            f"{max(1, math.ceil(total_entries / page_size))} page(s) of {page_size}"
        )
    for row in rows:
        del row["position"], row["total_entries"]
    board = OVERALL_BOARD if competition is None else COMPETITION_BOARDS
    refresh = ViewRefresh.objects.filter(view_name=board.name).first()
    return GroupBoardPage(
        group=group,
        competition=competition,
        entries=rows,
        page=page,
        page_size=page_size,
        total_entries=total_entries,
        refreshed_at=refresh.refreshed_at if refresh else None,
    )
