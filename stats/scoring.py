"""The scoring rules as a pure function: the reference the SQL scoring must agree with."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class PointTiers:
    exact: int
    goal_difference: int
    outcome: int

    @classmethod
    def from_settings(cls) -> PointTiers:
        return cls(
            exact=settings.STATS_POINTS_EXACT,
            goal_difference=settings.STATS_POINTS_GOAL_DIFFERENCE,
            outcome=settings.STATS_POINTS_OUTCOME,
        )


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def prediction_points(
    predicted: tuple[int, int], result: tuple[int, int] | None, tiers: PointTiers
) -> int | None:
    """Points for one prediction: the highest tier that applies; None when there is no result."""
    if result is None:
        return None
    (predicted_home, predicted_away), (result_home, result_away) = predicted, result
    if predicted == result:
        return tiers.exact
    if predicted_home - predicted_away == result_home - result_away:
        return tiers.goal_difference
    if _sign(predicted_home - predicted_away) == _sign(result_home - result_away):
        return tiers.outcome
    return 0
