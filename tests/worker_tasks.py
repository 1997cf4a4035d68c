"""Tasks that exist only for tests; the test settings make workers import them."""

from __future__ import annotations

from procrastinate.contrib.django import app

from stats.models import Match


class Boom(Exception):
    """A failure raised on purpose."""


@app.task(name="tests.record_result_then", queue="stats")
def record_result_then(match_id: int, home_score: int, away_score: int, fail: bool) -> None:
    """Record a result from inside a running task, then fail if asked to: the scoring job the
    save queues must commit or roll back with this task's transaction."""
    from django.db import transaction

    with transaction.atomic():
        match = Match.objects.get(pk=match_id)
        match.status = Match.Status.COMPLETED
        match.home_score, match.away_score = home_score, away_score
        match.save()
        if fail:
            raise Boom(f"failing after saving match {match_id}")
