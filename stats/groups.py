"""Private groups: their rules (create, join by code, leave, hand over, remove a member, rotate
the code) and their boards: a small group's ranked at read time from the players' totals, a
large one's (STATS_GROUP_COUNTS_MIN_MEMBERS members or more) read from counts kept for it."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
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
from stats.refresh import WAIT_LOCK_SQL
from stats.relations import COMPETITION, LATEST_ROUNDS, OVERALL, ROUND, group_counts_of
from stats.sql import load_sql

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
    group_counts_sync(group=group)
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
        group_counts_sync(group=group)
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
    group_counts_sync(group=group)
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
    group_counts_sync(group=group)
    return group


@transaction.atomic
def group_rotate_join_code(*, owner_id: int, slug: str) -> PlayerGroup:
    """A new join code for the group; the old one stops working at once."""
    group = _owned(owner_id=owner_id, slug=slug)
    group.join_code = _new_join_code()
    group.save(update_fields=["join_code"])
    return group


# --- Large groups: counts kept ------------------------------------------------------------------


@transaction.atomic
def group_counts_sync(*, group: PlayerGroup) -> bool:
    """Keep the group's boards as counts from STATS_GROUP_COUNTS_MIN_MEMBERS members on, and
    rank them at read time below: a group crossing the threshold has its rows built once (or
    dropped). A member joining or leaving a kept group moves their own rows (the membership
    trigger of migration 0016). Whether the group's counts are kept now."""
    keep = group_member_count(group=group) >= int(settings.STATS_GROUP_COUNTS_MIN_MEMBERS)
    kept = PlayerGroup.objects.filter(pk=group.pk).values_list("counts_kept", flat=True).first()
    if kept is None or keep == kept:
        group.counts_kept = bool(kept)
        return bool(kept)
    with connection.cursor() as cursor:
        # The refresh's lock: a group's rows are built from the totals as the refresh commits
        # them, never from the ones a running refresh is replacing.
        cursor.execute(WAIT_LOCK_SQL)
        PlayerGroup.objects.filter(pk=group.pk).update(counts_kept=keep)
        function = "stats_group_counts_build" if keep else "stats_group_counts_drop"
        cursor.execute(f"SELECT {function}(%s)", [group.pk])
    group.counts_kept = keep
    return keep


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


# Ranked at read time among the members, numbered exactly as the league's boards are (RANK()
# by points then exact scores; position ties by user id); only players with a scored prediction
# there. The members' totals are read first (once, MATERIALIZED) and counted for the size.
# Movement: each member's totals before the latest round that counted (their totals less their
# row of that round's board) ranked the same way; NULL for a member who had nothing scored
# before it (RANK() puts those at (0, 0), never ahead of anyone, so the others' ranks hold).
_GROUP_BOARD = """
WITH members AS MATERIALIZED (
    SELECT
        t.user_id, t.total_points, t.predictions_scored, t.exact_scores, t.correct_outcomes,
        t.total_points - coalesce(r.total_points, 0) AS previous_points,
        t.exact_scores - coalesce(r.exact_scores, 0) AS previous_exact,
        t.predictions_scored - coalesce(r.predictions_scored, 0) AS previous_scored
    FROM stats_groupmembership AS m
    {members_totals}
    LEFT JOIN {round_totals} AS r
        ON r.competition_id = %(latest_competition)s AND r.round = %(latest_round)s
        AND r.user_id = t.user_id
    WHERE m.group_id = %(group)s AND t.predictions_scored > 0
), board AS (
    SELECT
        members.*,
        rank() OVER (ORDER BY total_points DESC, exact_scores DESC)::integer AS rank,
        row_number() OVER (
            ORDER BY total_points DESC, exact_scores DESC, user_id
        )::integer AS position,
        CASE WHEN previous_scored > 0 AND %(latest_round)s IS NOT NULL THEN
            rank() OVER (ORDER BY previous_points DESC, previous_exact DESC)
        END::integer AS previous_rank
    FROM members
)
SELECT b.rank, b.user_id, u.username, b.total_points, b.predictions_scored, b.exact_scores,
       b.correct_outcomes, b.previous_rank,
       (SELECT count(*) FROM members)::integer AS total_entries
FROM board AS b JOIN auth_user AS u ON u.id = b.user_id
WHERE b.position > %(offset)s AND b.position <= %(offset)s + %(limit)s
ORDER BY b.position
"""
# A small group looks each member up by the totals' key (OFFSET 0 keeps the lookup from being
# flattened into a join that scans every player of the league); a large one joins the totals
# by hash, cheaper than that many lookups (measured: bench/group_boards.py).
_LOOKUP = (
    "CROSS JOIN LATERAL (SELECT * FROM {totals} AS t"
    " WHERE t.user_id = m.user_id {competition} OFFSET 0) AS t"
)
_JOIN = "JOIN {totals} AS t ON t.user_id = m.user_id {competition}"
LOOKUP_MAX_MEMBERS = 20_000
# The players' totals: overall, per competition, per round.
OVERALL_TOTALS = OVERALL.totals.name
COMPETITION_TOTALS = COMPETITION.totals.name
ROUND_TOTALS = ROUND.totals.name


def _board_query(*, competition: Competition | None, members: int) -> str:
    if competition is None:
        totals, where = OVERALL_TOTALS, ""
    else:
        totals, where = COMPETITION_TOTALS, "AND t.competition_id = %(competition)s"
    members_totals = _LOOKUP if members <= LOOKUP_MAX_MEMBERS else _JOIN
    return _GROUP_BOARD.format(
        members_totals=members_totals.format(totals=totals, competition=where),
        round_totals=ROUND_TOTALS,
    )


def latest_round(*, competition: Competition | None) -> tuple[int, int] | None:
    """The latest round that counted on a board: a competition's highest round with scored
    predictions; overall, the one of those whose latest result came last (completed_at); None
    before any. As the refresh last kept it (stats_latest_round), so a group's board and the
    league's agree."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT competition_id, round FROM {LATEST_ROUNDS.name}"
            " WHERE %(competition)s::bigint IS NULL OR competition_id = %(competition)s"
            " ORDER BY completed_at DESC, match_id DESC LIMIT 1",
            {"competition": competition.pk if competition else None},
        )
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


def group_board_page(
    *, group: PlayerGroup, competition: Competition | None, page: int, page_size: int
) -> GroupBoardPage:
    """One page of a group's board (overall, or in a competition), ranked among its members.

    Raises PageOutOfRange past the last page; page 1 of an empty board is an empty page.
    """
    if group.counts_kept:
        return _kept_board_page(
            group=group, competition=competition, page=page, page_size=page_size
        )
    offset = (page - 1) * page_size
    query = _board_query(competition=competition, members=group_member_count(group=group))
    latest = latest_round(competition=competition)
    params = {
        "group": group.pk,
        "competition": competition.pk if competition else None,
        "latest_competition": latest[0] if latest else None,
        "latest_round": latest[1] if latest else None,
    }
    with connection.cursor() as cursor:
        cursor.execute(query, {**params, "offset": offset, "limit": page_size})
        columns = [column.name for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        if not rows and page > 1:  # past the end: how far the board goes, for the message
            cursor.execute(query, {**params, "offset": 0, "limit": 1})
            first = cursor.fetchone()
            total_entries = first[-1] if first else 0
    if rows:
        total_entries = rows[0]["total_entries"]
    elif page == 1:
        total_entries = 0
    if page > 1 and offset >= total_entries:
        raise PageOutOfRange(
            f"page {page} is past the end: the board has "
            f"{max(1, math.ceil(total_entries / page_size))} page(s) of {page_size}"
        )
    for row in rows:
        del row["total_entries"]
    return _page(group, competition, rows, page, page_size, total_entries)


def _page(
    group: PlayerGroup,
    competition: Competition | None,
    rows: list[dict[str, Any]],
    page: int,
    page_size: int,
    total_entries: int,
) -> GroupBoardPage:
    grain = OVERALL if competition is None else COMPETITION
    refresh = ViewRefresh.objects.filter(view_name=grain.ranks.name).first()
    return GroupBoardPage(
        group=group,
        competition=competition,
        entries=rows,
        page=page,
        page_size=page_size,
        total_entries=total_entries,
        refreshed_at=refresh.refreshed_at if refresh else None,
    )


def _kept_query(competition: Competition | None) -> str:
    grain = OVERALL if competition is None else COMPETITION
    groups = group_counts_of(grain)

    def board(alias: str) -> str:
        return f"{alias}.competition_id = %(competition)s AND " if competition else ""

    # The league's previous_rank rule, on the group's previous counts: the CTE `previous` holds
    # this board's only, so nothing more picks its rows.
    previous = {"row": "t", "round_totals": ROUND_TOTALS, "previous_ranks": "previous"}
    return load_sql("boards/group_page.sql").format(
        members=groups.members.name,
        counts=groups.counts.name,
        previous_counts=groups.previous_counts.name,
        totals=grain.totals.name,
        users="auth_user",
        board=board("x"),
        board_t=board("t"),
        previous_rank=load_sql("boards/previous_rank.sql").format(lowest_board="", **previous),
        previous_rank_joins=load_sql("boards/previous_rank_joins.sql").format(
            latest_board=board("l"), previous_board="", **previous
        ),
    )


def _kept_board_page(
    *, group: PlayerGroup, competition: Competition | None, page: int, page_size: int
) -> GroupBoardPage:
    """A large group's page from its counts and its members' index in board order
    (boards/group_page.sql), in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            _kept_query(competition),
            {
                "group": group.pk,
                "competition": competition.pk if competition else None,
                "first": (page - 1) * page_size + 1,
                "size": page_size,
            },
        )
        columns = [column.name for column in cursor.description]
        found = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    total_entries = found[0]["total_entries"] if found else 0
    if page > 1 and (page - 1) * page_size >= total_entries:
        raise PageOutOfRange(
            f"page {page} is past the end: the board has "
            f"{max(1, math.ceil(total_entries / page_size))} page(s) of {page_size}"
        )
    rows = [row for row in found if row["user_id"] is not None]
    for row in rows:
        del row["total_entries"]
    return _page(group, competition, rows, page, page_size, total_entries)
