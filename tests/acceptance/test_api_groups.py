"""Private groups over real HTTP: every rule (create, join by code, leave, hand-over, removal,
rotation), non-members get 404, join codes cannot be brute-forced; a group's boards rank its
members as every board does (tests/db/test_groups.py checks them against a Python
recomputation)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db.models import F
from django.test import Client

from stats import groups
from stats.models import GroupJoinFailure, GroupMembership, PlayerGroup
from tests.support.factories import make_user
from tests.support.leagues import scored_league

pytestmark = pytest.mark.django_db


def post(client: Client, path: str, body: Any = None) -> Any:
    return client.post(path, json.dumps(body or {}), content_type="application/json")


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def create(owner: User, name: str = "Office") -> dict[str, Any]:
    response = post(signed_in(owner), "/api/groups", {"name": name})
    assert response.status_code == 201
    return dict(response.json())


def join(user: User, code: str) -> Any:
    return post(signed_in(user), "/api/groups/join", {"join_code": code})


def members(slug: str) -> set[str]:
    return set(
        GroupMembership.objects.filter(group__slug=slug).values_list("user__username", flat=True)
    )


def test_the_creator_owns_the_group_and_is_its_first_member() -> None:
    owner = make_user("olga")
    body = create(owner, "Office pool")
    assert set(body) == {"slug", "name", "owner_id", "join_code", "members"}
    assert (body["name"], body["owner_id"], body["members"]) == ("Office pool", owner.pk, 1)
    assert body["slug"].startswith("office-pool-")
    # 96 random bits, URL-safe: 16 characters.
    assert len(body["join_code"]) == 16
    assert members(body["slug"]) == {"olga"}


def test_join_codes_differ_and_rotate() -> None:
    owner = make_user()
    first, second = create(owner), create(owner)
    assert first["join_code"] != second["join_code"]
    rotated = post(signed_in(owner), f"/api/groups/{first['slug']}/join-code")
    assert rotated.status_code == 200
    new_code = rotated.json()["join_code"]
    assert new_code != first["join_code"]
    assert join(make_user(), first["join_code"]).status_code == 404
    assert join(make_user("newbie"), new_code).status_code == 200
    assert "newbie" in members(first["slug"])


def test_joining_with_a_code_and_joining_twice_changes_nothing() -> None:
    group = create(make_user("olga"))
    pat = make_user("pat")
    first = join(pat, group["join_code"])
    assert (first.status_code, first.json()["members"]) == (200, 2)
    again = join(pat, group["join_code"])
    assert (again.status_code, again.json()["members"]) == (200, 2)
    assert members(group["slug"]) == {"olga", "pat"}


def test_an_unknown_code_is_404() -> None:
    response = join(make_user(), "no-such-code")
    assert (response.status_code, response.json()) == (
        404,
        {"error": "no group has this join code"},
    )


def test_join_code_guessing_is_throttled_per_player() -> None:
    """Ten unknown codes in 15 minutes: the eleventh try is refused (429) even with the right
    code; another player is not held back."""
    group = create(make_user())
    guesser = make_user()
    statuses = [join(guesser, f"guess-{n}").status_code for n in range(groups.JOIN_FAILURE_LIMIT)]
    assert statuses == [404] * groups.JOIN_FAILURE_LIMIT
    refused = join(guesser, group["join_code"])
    assert refused.status_code == 429
    assert refused["Retry-After"] == "900"
    assert "too many unknown join codes" in refused.json()["error"]
    assert GroupMembership.objects.filter(user=guesser).count() == 0
    assert join(make_user(), group["join_code"]).status_code == 200
    # Out of the window, the player may try again.
    GroupJoinFailure.objects.filter(user=guesser).update(
        attempted_at=F("attempted_at") - groups.JOIN_FAILURE_WINDOW
    )
    assert join(guesser, group["join_code"]).status_code == 200


def test_non_members_get_404_on_every_members_door() -> None:
    group = create(make_user())
    outsider = signed_in(make_user())
    slug = group["slug"]
    for method, path in (
        ("get", f"/api/groups/{slug}"),
        ("get", f"/api/groups/{slug}/leaderboard"),
        ("post", f"/api/groups/{slug}/leave"),
        ("post", f"/api/groups/{slug}/owner"),
        ("post", f"/api/groups/{slug}/join-code"),
        ("delete", f"/api/groups/{slug}/members/1"),
    ):
        if method == "post":
            response = post(outsider, path, {"user_id": 1} if path.endswith("owner") else None)
        else:
            response = getattr(outsider, method)(path)
        assert response.status_code == 404, path
        assert response.json() == {"error": f"you are in no group with the slug {slug!r}"}
    # The same answer as for a group that does not exist.
    missing = outsider.get("/api/groups/nowhere-00000000/leaderboard")
    assert missing.status_code == 404


def test_a_member_leaves() -> None:
    group = create(make_user("olga"))
    pat = make_user("pat")
    join(pat, group["join_code"])
    response = post(signed_in(pat), f"/api/groups/{group['slug']}/leave")
    assert (response.status_code, response.json()) == (200, {"left": True, "group_deleted": False})
    assert members(group["slug"]) == {"olga"}


def test_an_owner_who_leaves_hands_over_to_the_longest_standing_member() -> None:
    olga = make_user("olga")
    group = create(olga)
    pat, quinn = make_user("pat"), make_user("quinn")
    join(pat, group["join_code"])
    join(quinn, group["join_code"])
    post(signed_in(olga), f"/api/groups/{group['slug']}/leave")
    assert PlayerGroup.objects.get(slug=group["slug"]).owner == pat
    assert members(group["slug"]) == {"pat", "quinn"}


def test_the_last_member_leaving_deletes_the_group() -> None:
    olga = make_user()
    group = create(olga)
    response = post(signed_in(olga), f"/api/groups/{group['slug']}/leave")
    assert response.json() == {"left": True, "group_deleted": True}
    assert not PlayerGroup.objects.filter(slug=group["slug"]).exists()


def test_the_owner_hands_the_group_over() -> None:
    olga, pat = make_user("olga"), make_user("pat")
    group = create(olga)
    join(pat, group["join_code"])
    slug = group["slug"]
    refused = post(signed_in(pat), f"/api/groups/{slug}/owner", {"user_id": pat.pk})
    assert (refused.status_code, refused.json()) == (
        403,
        {"error": "only the group's owner may do this"},
    )
    stranger = make_user()
    not_member = post(signed_in(olga), f"/api/groups/{slug}/owner", {"user_id": stranger.pk})
    assert not_member.status_code == 403
    handed = post(signed_in(olga), f"/api/groups/{slug}/owner", {"user_id": pat.pk})
    assert (handed.status_code, handed.json()["owner_id"]) == (200, pat.pk)
    assert members(slug) == {"olga", "pat"}  # the former owner stays a member
    assert post(signed_in(olga), f"/api/groups/{slug}/join-code").status_code == 403


def test_the_owner_removes_a_member_and_only_the_owner_may() -> None:
    olga, pat, quinn = make_user("olga"), make_user("pat"), make_user("quinn")
    group = create(olga)
    join(pat, group["join_code"])
    join(quinn, group["join_code"])
    slug = group["slug"]
    assert signed_in(pat).delete(f"/api/groups/{slug}/members/{quinn.pk}").status_code == 403
    removed = signed_in(olga).delete(f"/api/groups/{slug}/members/{quinn.pk}")
    assert (removed.status_code, removed.json()["members"]) == (200, 2)
    assert members(slug) == {"olga", "pat"}
    assert signed_in(quinn).get(f"/api/groups/{slug}").status_code == 404
    again = signed_in(olga).delete(f"/api/groups/{slug}/members/{quinn.pk}")
    assert again.status_code == 403
    itself = signed_in(olga).delete(f"/api/groups/{slug}/members/{olga.pk}")
    assert itself.json() == {"error": "the owner cannot remove themself; leave the group instead"}


def test_a_full_group_refuses_another_member(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(groups, "MAX_MEMBERS", 2)
    group = create(make_user())
    assert join(make_user(), group["join_code"]).status_code == 200
    full = join(make_user(), group["join_code"])
    assert full.status_code == 409
    assert "members, its most" in full.json()["error"]


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": 3}]
)
def test_a_malformed_group_is_400(body: dict[str, Any]) -> None:
    response = post(signed_in(make_user()), "/api/groups", body)
    assert response.status_code == 400
    assert set(response.json()) == {"error"}


def test_a_groups_name_loses_its_surrounding_spaces() -> None:
    """As on the groups page (before: the API kept them, and took a name of spaces alone)."""
    assert create(make_user(), "  Office  ")["name"] == "Office"


def test_my_groups_are_listed() -> None:
    olga, pat = make_user(), make_user()
    mine = create(olga, "B team")
    theirs = create(pat, "A team")
    join(olga, theirs["join_code"])
    listed = signed_in(olga).get("/api/groups").json()
    assert listed == [
        {"slug": theirs["slug"], "name": "A team", "members": 2, "is_owner": False},
        {"slug": mine["slug"], "name": "B team", "members": 1, "is_owner": True},
    ]


# --- Boards ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lookup_max", [groups.LOOKUP_MAX_MEMBERS, 0], ids=["lookup", "join"])
def test_a_groups_board_ranks_its_members_like_the_league(
    lookup_max: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alice and bob tie (5 points, 1 exact), dave 3 with 1 exact, carol 3 with none; a group
    of bob, carol and dave ranks them 1, 2, 3, and its cup board has carol and dave only. The
    same whether members' totals are looked up one by one or joined (large groups)."""
    monkeypatch.setattr(groups, "LOOKUP_MAX_MEMBERS", lookup_max)
    league = scored_league()
    group = create(league.bob)
    join(league.carol, group["join_code"])
    join(league.dave, group["join_code"])
    client = signed_in(league.carol)
    body = client.get(f"/api/groups/{group['slug']}/leaderboard").json()
    assert [(e["username"], e["rank"], e["total_points"]) for e in body["entries"]] == [
        ("bob", 1, 5),
        ("dave", 2, 3),
        ("carol", 3, 3),
    ]
    assert (body["total_entries"], body["total_pages"], body["competition"]) == (3, 1, None)
    # Before the latest result (the cup final): bob 5, carol 1, dave 0 from one prediction.
    assert [e["previous_rank"] for e in body["entries"]] == [1, 3, 2]
    cup = client.get(f"/api/groups/{group['slug']}/leaderboard?competition=cup").json()
    assert [(e["username"], e["rank"]) for e in cup["entries"]] == [("dave", 1), ("carol", 2)]
    # The cup's only round is its latest: nobody had anything scored there before it.
    assert [e["previous_rank"] for e in cup["entries"]] == [None, None]
    second = client.get(f"/api/groups/{group['slug']}/leaderboard?page=2&page_size=2").json()
    assert [e["username"] for e in second["entries"]] == ["carol"]
    past = client.get(f"/api/groups/{group['slug']}/leaderboard?page=3&page_size=2")
    assert past.json() == {"error": "page 3 is past the end: the board has 2 page(s) of 2"}
    unknown = client.get(f"/api/groups/{group['slug']}/leaderboard?competition=nowhere")
    assert unknown.json() == {"error": "no competition has the slug 'nowhere'"}
    for bad in ("page=0", "page_size=101", "page=x", "competition=a%20b"):
        assert client.get(f"/api/groups/{group['slug']}/leaderboard?{bad}").status_code == 400


def test_deleting_an_owners_account_hands_their_groups_over() -> None:
    """As when the owner leaves: the longest-standing member owns it; a group with no other
    member goes with the account."""
    olga, pat, quinn = make_user("olga"), make_user("pat"), make_user("quinn")
    shared = create(olga, "Shared")
    alone = create(olga, "Alone")
    join(pat, shared["join_code"])
    join(quinn, shared["join_code"])
    olga.delete()
    assert PlayerGroup.objects.get(slug=shared["slug"]).owner == pat
    assert members(shared["slug"]) == {"pat", "quinn"}
    assert not PlayerGroup.objects.filter(slug=alone["slug"]).exists()
