"""The players' side: bearer tokens for apps, private groups and their members."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.deletion import Collector


class ApiToken(models.Model):
    """A player's bearer token for an app. Only its SHA-256 is stored: the token itself is shown
    once, when it is issued. Revoked tokens are kept (revoked_at set) so the admin shows them."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True, help_text="Which app or device holds it.")
    # A token is 256 random bits: an unsalted hash of it cannot be reversed by guessing.
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters of the token, so a player can tell their tokens apart in the admin.
    prefix = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name = "API token"

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"{self.prefix}… of {self.user} ({state})"


def hand_over_or_delete(
    collector: Collector, field: models.Field[Any, Any], sub_objs: Any, using: str
) -> None:
    """When an owner's account is deleted, each group they own goes to its longest-standing
    other member, as when an owner leaves; a group with no other member goes with them."""
    orphaned = []
    for group in sub_objs:
        successor = (
            GroupMembership.objects.using(using)
            .filter(group_id=group.pk)
            .exclude(user_id=group.owner_id)
            .order_by("joined_at", "id")
            .values_list("user_id", flat=True)
            .first()
        )
        if successor is None:
            orphaned.append(group)
        else:
            collector.add_field_update(field, successor, [group])
    if orphaned:
        models.CASCADE(
            collector,
            field,
            PlayerGroup.objects.using(using).filter(pk__in=[group.pk for group in orphaned]),
            using,
        )


class PlayerGroup(models.Model):
    """A private league among players: its members are ranked by the same totals as every board.

    `slug` names it in URLs; `join_code` lets others join and is rotated by its owner.
    """

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=hand_over_or_delete, related_name="owned_groups"
    )
    join_code = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Whether its boards are read from counts kept for it (stats/groups.py sets it when the group
    # reaches STATS_GROUP_COUNTS_MIN_MEMBERS): the refresh and the membership trigger keep them.
    counts_kept = models.BooleanField(default=False, db_default=False, editable=False)

    class Meta:
        ordering = ("name", "id")
        verbose_name = "group"

    def __str__(self) -> str:
        return self.name


class GroupMembership(models.Model):
    group = models.ForeignKey(PlayerGroup, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="group_memberships"
    )
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # (group, user): a group's board reads its members in user order from this index.
            models.UniqueConstraint(fields=["group", "user"], name="stats_group_member_once"),
        ]
        indexes = [models.Index(fields=["user"], name="stats_group_member_user_idx")]
        verbose_name = "group member"

    def __str__(self) -> str:
        return f"{self.user} in {self.group}"


class GroupJoinFailure(models.Model):
    """A join attempt with a code that opened no group: counted per player to stop a player
    (or a stolen session) from guessing codes."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    attempted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "attempted_at"], name="stats_group_join_failure_idx")
        ]

    def __str__(self) -> str:
        return f"{self.user} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"
