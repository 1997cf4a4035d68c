"""Movement in Python: each board's latest round that counted, from the predictions alone (the
recomputations the statistics' and the groups' tests compare the boards with)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from stats.models import Match, Prediction


def latest_rounds() -> dict[int | None, tuple[int, int]]:
    """Each board's latest round that counted, in Python: a competition's highest round with a
    scored prediction of a completed match; the overall board's, the one of those whose latest
    result came last (completed_at, a missing one first as PostgreSQL orders it, then the
    highest id). By competition id, and None for the overall board's."""
    counted = set(
        Prediction.objects.filter(points__isnull=False, match__status=Match.Status.COMPLETED)
        .values_list("match__competition_id", "match__round")
        .distinct()
    )
    # competition -> its highest counted round, and the order of that round's latest result
    highest: dict[int, tuple[int, tuple[bool, Any, int]]] = {}
    for match_id, competition, round, completed_at in Match.objects.filter(
        status=Match.Status.COMPLETED
    ).values_list("pk", "competition_id", "round", "completed_at"):
        if (competition, round) not in counted:
            continue
        key = (completed_at is None, completed_at or timezone.now(), match_id)
        if competition not in highest or (round, key) > highest[competition]:
            highest[competition] = (round, key)
    latest: dict[int | None, tuple[int, int]] = {
        competition: (competition, round) for competition, (round, _) in highest.items()
    }
    if highest:
        last = max(highest, key=lambda competition: highest[competition][1])
        latest[None] = latest[last]
    return latest
