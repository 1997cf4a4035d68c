"""The players' side for staff: API tokens (listed, revocable, never shown), groups and their
members."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from stats.models import ApiToken, GroupMembership, PlayerGroup


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ("prefix", "user", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("user__username", "name", "prefix")
    readonly_fields = ("user", "prefix", "created_at", "last_used_at")
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke_tokens"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a token is issued to its player (POST /api/auth/token), shown once

    @admin.action(description="Revoke the selected tokens")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)


class MembershipInline(admin.TabularInline[GroupMembership, PlayerGroup]):
    model = GroupMembership
    extra = 0
    raw_id_fields = ("user",)
    readonly_fields = ("joined_at",)


@admin.register(PlayerGroup)
class PlayerGroupAdmin(admin.ModelAdmin[PlayerGroup]):
    list_display = ("name", "slug", "owner", "member_count", "created_at")
    search_fields = ("name", "slug", "owner__username")
    raw_id_fields = ("owner",)
    readonly_fields = ("created_at",)
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PlayerGroup]:
        return super().get_queryset(request).annotate(member_total=Count("memberships"))

    @admin.display(description="members", ordering="member_total")
    def member_count(self, group: PlayerGroup) -> int:
        return group.member_total  # type: ignore[attr-defined,no-any-return]


@admin.register(GroupMembership)
class GroupMembershipAdmin(admin.ModelAdmin[GroupMembership]):
    list_display = ("group", "user", "joined_at")
    search_fields = ("group__name", "group__slug", "user__username")
    raw_id_fields = ("group", "user")
    list_select_related = ("group", "user")
