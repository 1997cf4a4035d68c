"""What the queue does not keep: each failed attempt's error."""

from __future__ import annotations

from django.db import models


class JobError(models.Model):
    """An error raised by one attempt of a stats job: Procrastinate keeps statuses, not errors."""

    job_id = models.BigIntegerField(db_index=True)
    task_name = models.CharField(max_length=128)
    attempt = models.PositiveIntegerField(help_text="0 for the first run.")
    error = models.TextField()
    traceback = models.TextField()
    raised_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-raised_at", "-id")

    def __str__(self) -> str:
        return f"job {self.job_id} attempt {self.attempt}: {self.error[:80]}"
