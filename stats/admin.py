"""The admin, for running the league and for inspecting the pipeline during an incident."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.contrib import admin, messages
from django.db import connection, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.defaultfilters import pluralize
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST
from procrastinate.contrib.django import app
from procrastinate.contrib.django.admin import ProcrastinateJobAdmin
from procrastinate.contrib.django.models import ProcrastinateJob

from stats import jobs
from stats.models import (
    Competition,
    CompetitionStanding,
    CompetitionTotal,
    JobError,
    LeaderboardEntry,
    Match,
    MatchSummary,
    Prediction,
    RoundStanding,
    Team,
    ViewRefresh,
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
    ordering = ("-kickoff_at", "-id")  # the newest match first, not last of hundreds
    list_filter = ("competition", "status", "round", PointsStatusFilter)
    list_select_related = ("competition", "home_team", "away_team")
    search_fields = ("home_team__name", "away_team__name", "competition__name")
    autocomplete_fields = ("home_team", "away_team")
    readonly_fields = ("completed_at", "points_calculated_at", "scoring_jobs")
    date_hierarchy = "kickoff_at"
    actions = ("recalculate_points", "void_matches")

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
        found = ProcrastinateJob.objects.filter(
            task_name=jobs.CALCULATE_POINTS, args__match_id=match.pk
        ).order_by("-id")[:20]
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


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Rows written by the pipeline only: staff may look, nobody may change them here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LeaderboardEntry)
class LeaderboardEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "rank",
        "user",
        "total_points",
        "exact_scores",
        "correct_outcomes",
        "predictions_scored",
    )
    list_select_related = ("user",)
    search_fields = ("user__username",)
    ordering = ("rank", "user_id")


@admin.register(CompetitionStanding)
class CompetitionStandingAdmin(ReadOnlyAdmin):
    list_display = ("rank", "user", "competition", "total_points", "exact_scores")
    list_filter = ("competition",)
    list_select_related = ("user", "competition")
    search_fields = ("user__username",)
    ordering = ("competition_id", "rank", "user_id")


@admin.register(RoundStanding)
class RoundStandingAdmin(ReadOnlyAdmin):
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
    search_fields = ("user__username",)
    ordering = ("competition_id", "round", "rank", "user_id")


@admin.register(CompetitionTotal)
class CompetitionTotalAdmin(ReadOnlyAdmin):
    list_display = (
        "user",
        "competition",
        "total_points",
        "exact_scores",
        "correct_outcomes",
        "predictions_scored",
    )
    list_filter = ("competition",)
    list_select_related = ("user", "competition")
    search_fields = ("user__username",)


@admin.register(MatchSummary)
class MatchSummaryAdmin(ReadOnlyAdmin):
    list_display = (
        "match",
        "predictions_count",
        "home_win_predictions",
        "draw_predictions",
        "away_win_predictions",
        "exact_scores",
        "average_points",
    )
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
    """Each view's last refresh, and a button to refresh them all now."""

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


# Procrastinate's job admin, registered again through a subclass (importing it registered it).
admin.site.unregister(ProcrastinateJob)


@admin.register(ProcrastinateJob)
class JobAdmin(ProcrastinateJobAdmin):
    """Upstream's job admin, with two changes: its actions (retry, cancel, abort) need the change
    permission on jobs (upstream offers them to any staff user, view-only ones included), and a
    retry that its waiting follow-up would supersede is refused with a message.

    The change form stays read-only for everyone: the permission is checked by the actions."""

    fields = [*ProcrastinateJobAdmin.fields, "errors"]
    actions = ["retry", "cancel", "abort"]

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("procrastinate.change_procrastinatejob")

    @admin.display(description="errors")
    def errors(self, job: ProcrastinateJob) -> str:
        found = JobError.objects.filter(job_id=job.id).order_by("id")
        return (
            format_html_join(
                "", "<p>attempt {}: {}</p>", ((error.attempt, error.error) for error in found)
            )
            or "none"
        )

    @admin.action(description="Retry Job", permissions=["operate"])
    def retry(self, request: HttpRequest, queryset: QuerySet[ProcrastinateJob]) -> None:
        retried = 0
        for job in queryset.filter(status__in=("failed", "doing")).order_by("id"):
            with transaction.atomic():
                follow_up = self._waiting_follow_up(job)
                if follow_up is None:
                    app.job_manager.retry_job_by_id(
                        job.id, timezone.now(), job.priority, job.queue_name, job.lock
                    )
                    retried += 1
            if follow_up is not None:
                self.message_user(
                    request,
                    f"Job #{job.id} not retried: job #{follow_up} already waits with the same"
                    f" queueing lock ({job.queueing_lock}) and will do its work.",
                    messages.WARNING,
                )
        self.message_user(request, f"{retried} job{pluralize(retried)} retried.", messages.SUCCESS)

    @admin.action(description="Cancel Job (only 'todo' jobs)", permissions=["operate"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[ProcrastinateJob]) -> None:
        ProcrastinateJobAdmin.cancel(self, request, queryset)

    @admin.action(description="Abort Job (includes 'todo' & 'doing' jobs)", permissions=["operate"])
    def abort(self, request: HttpRequest, queryset: QuerySet[ProcrastinateJob]) -> None:
        ProcrastinateJobAdmin.abort(self, request, queryset)

    @staticmethod
    def _waiting_follow_up(job: ProcrastinateJob) -> int | None:
        """The id of the job waiting with this one's queueing lock, under the guard's lock, so
        no defer can slip in between this check and the retry."""
        if job.queueing_lock is None:
            return None
        with connection.cursor() as cursor:
            cursor.execute("SELECT stats_lock_queueing_lock(%s)", [job.queueing_lock])
        waiting = ProcrastinateJob.objects.filter(
            queueing_lock=job.queueing_lock, status="todo"
        ).exclude(id=job.id)
        return waiting.values_list("id", flat=True).first()
