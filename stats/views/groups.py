"""The groups' doors: create, join, leave, hand over, remove a member, rotate the code, and the
group's boards. Every door but create and join is for members: others get 404."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from stats import groups
from stats.exceptions import UnknownCompetition
from stats.models import Competition, PlayerGroup
from stats.views.schemas import (
    ErrorOut,
    GroupBoardOut,
    GroupBoardQuery,
    GroupIn,
    GroupOut,
    HandOverIn,
    JoinIn,
    LeftOut,
    MyGroupOut,
)
from stats.views.signin import PLAYER, player

router = Router(tags=["groups"], auth=PLAYER)


def _group_out(group: PlayerGroup) -> dict[str, Any]:
    return {
        "slug": group.slug,
        "name": group.name,
        "owner_id": group.owner_id,
        "join_code": group.join_code,
        "members": groups.group_member_count(group=group),
    }


@router.post("/groups", response={201: GroupOut}, summary="Create a group; you own it")
def group_create(request: HttpRequest, body: GroupIn) -> Status[dict[str, Any]]:
    return Status(201, _group_out(groups.group_create(owner=player(request), name=body.name)))


@router.get("/groups", response=list[MyGroupOut], summary="Your groups")
def group_list(request: HttpRequest) -> list[dict[str, Any]]:
    return groups.player_group_list(user_id=player(request).pk)


@router.post(
    "/groups/join",
    response={200: GroupOut, 404: ErrorOut, 409: ErrorOut, 429: ErrorOut},
    summary="Join a group with its code",
)
def group_join(request: HttpRequest, body: JoinIn) -> dict[str, Any]:
    """404 on an unknown code; joining twice changes nothing. Ten unknown codes within 15
    minutes make a player wait (429), whatever code they give next."""
    return _group_out(groups.group_join(user=player(request), join_code=body.join_code))


@router.get("/groups/{slug}", response={200: GroupOut, 404: ErrorOut}, summary="A group of yours")
def group_detail(request: HttpRequest, slug: str) -> dict[str, Any]:
    return _group_out(groups.group_for_member(user_id=player(request).pk, slug=slug))


@router.post(
    "/groups/{slug}/leave",
    response={200: LeftOut, 404: ErrorOut},
    summary="Leave a group (an owner hands it over; the last member deletes it)",
)
def group_leave(request: HttpRequest, slug: str) -> dict[str, Any]:
    group = groups.group_leave(user_id=player(request).pk, slug=slug)
    return {"left": True, "group_deleted": group is None}


@router.post(
    "/groups/{slug}/owner",
    response={200: GroupOut, 403: ErrorOut, 404: ErrorOut},
    summary="Hand the group over to another member (owner only)",
)
def group_hand_over(request: HttpRequest, slug: str, body: HandOverIn) -> dict[str, Any]:
    return _group_out(
        groups.group_hand_over(owner_id=player(request).pk, slug=slug, new_owner_id=body.user_id)
    )


@router.delete(
    "/groups/{slug}/members/{user_id}",
    response={200: GroupOut, 403: ErrorOut, 404: ErrorOut},
    summary="Remove a member (owner only)",
)
def group_remove_member(request: HttpRequest, slug: str, user_id: int) -> dict[str, Any]:
    return _group_out(
        groups.group_remove_member(owner_id=player(request).pk, slug=slug, user_id=user_id)
    )


@router.post(
    "/groups/{slug}/join-code",
    response={200: GroupOut, 403: ErrorOut, 404: ErrorOut},
    summary="Rotate the join code (owner only); the old one stops working",
)
def group_rotate_join_code(request: HttpRequest, slug: str) -> dict[str, Any]:
    return _group_out(groups.group_rotate_join_code(owner_id=player(request).pk, slug=slug))


@router.get(
    "/groups/{slug}/leaderboard",
    response={200: GroupBoardOut, 400: ErrorOut, 404: ErrorOut},
    summary="A board among the group's members, overall or in a competition",
)
def group_leaderboard(
    request: HttpRequest, slug: str, query: Query[GroupBoardQuery]
) -> dict[str, Any]:
    group = groups.group_for_member(user_id=player(request).pk, slug=slug)
    competition = None
    if query.competition is not None:
        competition = Competition.objects.filter(slug=query.competition).first()
        if competition is None:
            raise UnknownCompetition(f"no competition has the slug {query.competition!r}")
    page = groups.group_board_page(
        group=group, competition=competition, page=query.page, page_size=query.page_size
    )
    return {
        "group": group.slug,
        "competition": competition.slug if competition else None,
        "entries": page.entries,
        "page": page.page,
        "page_size": page.page_size,
        "total_entries": page.total_entries,
        "total_pages": page.total_pages,
        "refreshed_at": page.refreshed_at,
    }
