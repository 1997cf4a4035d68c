"""A settled match, once saved, has its predictions scored by a job queued in the same transaction.

Match.save() runs in a transaction (see the model), so this receiver's enqueue commits with the
saved result or not at all, whoever saves: a request, the admin, the shell, another task.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from stats.jobs import enqueue_match_scoring
from stats.models import Match


@receiver(post_save, sender=Match, dispatch_uid="stats.enqueue_match_scoring")
def enqueue_scoring_of_settled_match(sender: type[Match], instance: Match, **kwargs: Any) -> None:
    if instance.is_settled:
        enqueue_match_scoring(instance.pk)
