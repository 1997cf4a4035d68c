"""A match whose result changes, once saved, has its predictions (re-)scored by a job queued in
the same transaction.

Match.save() runs in a transaction (see the model), so this receiver's enqueue commits with the
saved result or not at all, whoever saves: a request, the admin, the shell, another task, the
results feed. A first result is queued ahead of corrections, voids and withdrawn results.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from stats.jobs import Priority, enqueue_match_scoring
from stats.models import Match, ResultChange


@receiver(post_save, sender=Match, dispatch_uid="stats.enqueue_match_scoring")
def enqueue_scoring_of_changed_result(sender: type[Match], instance: Match, **kwargs: Any) -> None:
    change = instance.changed_result()  # the saved result against the one before this save
    if change is None:
        return
    fresh = change is ResultChange.FRESH
    enqueue_match_scoring(
        instance.pk, priority=Priority.FRESH_RESULT if fresh else Priority.RESCORING
    )
