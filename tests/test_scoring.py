from __future__ import annotations

import pytest

from stats.scoring import PointTiers, prediction_points

TIERS = PointTiers(exact=3, goal_difference=2, outcome=1)


@pytest.mark.parametrize(
    ("predicted", "result", "points"),
    [
        ((2, 1), (2, 1), 3),  # exact
        ((0, 0), (0, 0), 3),  # exact draw
        ((3, 2), (2, 1), 2),  # same goal difference
        ((1, 1), (2, 2), 2),  # a draw predicted as another draw
        ((3, 0), (1, 0), 1),  # right winner, wrong difference
        ((0, 2), (1, 4), 1),  # right away win
        ((1, 0), (0, 1), 0),  # wrong winner
        ((1, 1), (1, 0), 0),  # draw predicted, home win
        ((2, 0), (1, 1), 0),  # home win predicted, draw
        ((2, 1), None, None),  # void match
    ],
)
def test_prediction_points_truth_table(
    predicted: tuple[int, int], result: tuple[int, int] | None, points: int | None
) -> None:
    """The highest applicable tier wins; tiers never add up; no result means no points."""
    assert prediction_points(predicted, result, TIERS) == points
