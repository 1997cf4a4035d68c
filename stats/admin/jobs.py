"""Procrastinate's job admin, with its actions behind the change permission."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import connection, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.utils.html import format_html_join
from procrastinate.contrib.django import app
from procrastinate.contrib.django.admin import ProcrastinateJobAdmin
from procrastinate.contrib.django.models import ProcrastinateJob

from stats.models import (
    JobError,
)

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
