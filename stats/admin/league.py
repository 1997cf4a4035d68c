"""The admin for running the league: competitions, teams, matches, predictions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ERROR_FLAG
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html_join

from stats import jobs
from stats.models import (
    KICKOFF_RANGE,
    Competition,
    Match,
    Prediction,
    Team,
)


@admin.register(Competition)
class CompetitionAdmin(admin.ModelAdmin[Competition]):
    list_display = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name", "slug")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin[Team]):
    search_fields = ("name",)


class PointsStatusFilter(admin.SimpleListFilter):
    title = "points"
    parameter_name = "points"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [("stale", "missing or stale"), ("fresh", "up to date")]

    def queryset(self, request: Any, queryset: QuerySet[Match]) -> QuerySet[Match]:
        stale = Match.objects.settled().with_stale_points().values("pk")
        if self.value() == "stale":
            return queryset.filter(pk__in=stale)
        if self.value() == "fresh":
            return queryset.filter(status__in=Match.SETTLED_STATUSES).exclude(pk__in=stale)
        return queryset


@admin.register(Match)
class MatchAdmin(admin.ModelAdmin[Match]):
    list_display = (
        "competition",
        "round",
        "home_team",
        "away_team",
        "kickoff_at",
        "status",
        "score",
        "points_status",
        "points_calculated_at",
    )
    list_display_links = ("home_team", "away_team")
    # Recent results first (played matches, the latest first), then what comes next (the
    # soonest first): a season loaded ahead opened on next year's fixtures.
    ordering = (  # type: ignore[assignment]  # Django takes expressions; its stubs do not say so
        RawSQL("stats_match.kickoff_at > now()", []).asc(),
        RawSQL("abs(extract(epoch FROM stats_match.kickoff_at - now()))", []).asc(),
        "-id",
    )
    list_filter = ("competition", "status", "round", PointsStatusFilter)
    list_select_related = ("competition", "home_team", "away_team")
    search_fields = ("home_team__name", "away_team__name", "competition__name")
    autocomplete_fields = ("home_team", "away_team")
    readonly_fields = ("completed_at", "points_calculated_at", "scoring_jobs")
    date_hierarchy = "kickoff_at"
    actions = ("recalculate_points", "void_matches")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The date hierarchy computes the end of the chosen year, month or day: past the last
        # year Python can hold that raised (a 500) instead of showing nothing.
        year = request.GET.get("kickoff_at__year", "")
        if year and not (year.isdigit() and 1 <= int(year) < KICKOFF_RANGE[1].year):
            return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")
        return super().changelist_view(request, extra_context)

    @admin.display(description="score")
    def score(self, match: Match) -> str:
        return "—" if match.home_score is None else f"{match.home_score}-{match.away_score}"

    @admin.display(description="points")
    def points_status(self, match: Match) -> str:
        if not match.is_settled:
            return "—"
        if match.points_calculated_at is None:
            return "missing"
        if match.completed_at and match.points_calculated_at < match.completed_at:
            return "stale"
        return "up to date"

    @admin.display(description="scoring jobs")
    def scoring_jobs(self, match: Match) -> str:
        found = jobs.match_scoring_jobs(match.pk)[:20]
        if not found:
            return "none"
        return format_html_join(
            ", ",
            '<a href="{}">#{}</a> {} ({} attempts)',
            (
                (
                    reverse("admin:procrastinate_procrastinatejob_change", args=[job.id]),
                    job.id,
                    job.status,
                    job.attempts,
                )
                for job in found
            ),
        )

    @admin.action(
        description="Recalculate points of the selected settled matches", permissions=["change"]
    )
    def recalculate_points(self, request: HttpRequest, queryset: QuerySet[Match]) -> None:
        settled = list(
            queryset.filter(status__in=Match.SETTLED_STATUSES).values_list("pk", flat=True)
        )
        queued = sum(jobs.enqueue_match_scoring(match_id) is not None for match_id in settled)
        self.message_user(
            request,
            f"{queued} scoring job(s) queued; {len(settled) - queued} already waiting; "
            f"{queryset.count() - len(settled)} unsettled match(es) skipped.",
            messages.SUCCESS,
        )

    @admin.action(
        description="Void the selected matches (cancelled: their points are cleared)",
        permissions=["change"],
    )
    def void_matches(self, request: HttpRequest, queryset: QuerySet[Match]) -> None:
        voided = 0
        for match in queryset.exclude(status=Match.Status.CANCELLED):
            match.status = Match.Status.CANCELLED
            match.home_score = match.away_score = None  # a void match has no score
            match.save()  # each save queues the job that clears the points
            voided += 1
        self.message_user(request, f"{voided} match(es) voided.", messages.SUCCESS)


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin[Prediction]):
    list_display = ("id", "user", "match", "home_score", "away_score", "points", "updated_at")
    list_filter = ("match__competition", "match__status", "points")
    list_select_related = ("user", "match__home_team", "match__away_team", "match__competition")
    raw_id_fields = ("user", "match")
    search_fields = ("user__username",)
    readonly_fields = ("points", "created_at", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Prediction | None = None) -> Any:
        # Once its match has kicked off, a prediction is history: shown, not offered for edit.
        if obj is not None and obj.closed_reason() is not None:
            return ("user", "match", "home_score", "away_score", *self.readonly_fields)
        return self.readonly_fields
