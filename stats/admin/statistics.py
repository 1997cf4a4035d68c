"""The pipeline's records for staff to inspect, read-only: the boards (each player's totals,
with the rank looked up in the board's rank view), the match summaries, the refresh log (with
"Refresh stats now") and job errors."""

from __future__ import annotations

from datetime import UTC
from typing import Any, ClassVar

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from stats import jobs
from stats.models import (
    CompetitionTotal,
    JobError,
    MatchSummary,
    RoundTotal,
    UserTotal,
    ViewRefresh,
)
from stats.relations import COMPETITION, OVERALL, ROUND, Grain
from stats.selectors import with_rank


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Rows written by the pipeline only: staff may look, nobody may change them here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class BoardAdmin(ReadOnlyAdmin):
    """A board's per-player totals, best first, with each player's rank."""

    grain: ClassVar[Grain]
    search_fields = ("user__username",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return with_rank(super().get_queryset(request), self.grain)

    @admin.display(description="rank")
    def rank(self, totals: Any) -> int:
        return int(totals.rank)


@admin.register(UserTotal)
class UserTotalAdmin(BoardAdmin):
    grain = OVERALL
    list_select_related = ("user",)
    list_display = (
        "rank",
        "user",
        "total_points",
        "exact_scores",
        "correct_outcomes",
        "predictions_scored",
    )


@admin.register(CompetitionTotal)
class CompetitionTotalAdmin(BoardAdmin):
    grain = COMPETITION
    list_display = (
        "rank",
        "user",
        "competition",
        "total_points",
        "exact_scores",
        "correct_outcomes",
        "predictions_scored",
    )
    list_filter = ("competition",)
    list_select_related = ("user", "competition")


@admin.register(RoundTotal)
class RoundTotalAdmin(BoardAdmin):
    grain = ROUND
    list_display = (
        "rank",
        "user",
        "competition",
        "round",
        "total_points",
        "exact_scores",
        "correct_outcomes",
        "predictions_scored",
    )
    list_filter = ("competition", "round")
    list_select_related = ("user", "competition")


@admin.register(MatchSummary)
class MatchSummaryAdmin(ReadOnlyAdmin):
    list_display = ("match", *MatchSummary.SHOWN)
    list_select_related = ("match__home_team", "match__away_team", "match__competition")


@admin.register(JobError)
class JobErrorAdmin(ReadOnlyAdmin):
    list_display = ("raised_at", "job_link", "task_name", "attempt", "error")
    list_filter = ("task_name",)
    search_fields = ("error",)

    @admin.display(description="job")
    def job_link(self, error: JobError) -> str:
        url = reverse("admin:procrastinate_procrastinatejob_change", args=[error.job_id])
        return format_html('<a href="{}">#{}</a>', url, error.job_id)


@admin.register(ViewRefresh)
class ViewRefreshAdmin(ReadOnlyAdmin):
    """Each relation's last refresh, and a button to refresh them all now."""

    list_display = ("view_name", "refreshed", "duration_ms")
    change_list_template = "admin/stats/viewrefresh/change_list.html"

    @admin.display(description="refreshed at (UTC)", ordering="refreshed_at")
    def refreshed(self, refresh: ViewRefresh) -> str:
        # With seconds: a refresh takes seconds, and "2:38 a.m." hides whether one just ran.
        return f"{refresh.refreshed_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}"

    def get_urls(self) -> list[URLPattern]:
        refresh_now = self.admin_site.admin_view(require_POST(self.refresh_now_view))
        return [
            path("refresh-now/", refresh_now, name="stats_viewrefresh_refresh_now"),
            *super().get_urls(),
        ]

    def refresh_now_view(self, request: HttpRequest) -> HttpResponse:
        # The refresh log itself is read-only; queueing a refresh is a change to the league's stats.
        if not request.user.has_perm("stats.change_viewrefresh"):
            return HttpResponse(status=403)
        refresh = jobs.request_stats_refresh_now()
        verb = "queued" if refresh.status == "queued" else "was already queued"
        self.message_user(request, f"A refresh of every view {verb} (job #{refresh.job_id}).")
        return HttpResponseRedirect(reverse("admin:stats_viewrefresh_changelist"))
