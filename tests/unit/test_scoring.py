from __future__ import annotations

import pytest

from stats.scoring import prediction_points
from tests.support.scoring import DEFAULT_TIERS, TRUTH_TABLE


@pytest.mark.parametrize(("predicted", "result", "points"), TRUTH_TABLE)
def test_prediction_points_truth_table(
    predicted: tuple[int, int], result: tuple[int, int] | None, points: int | None
) -> None:
    """The highest applicable tier wins; tiers never add up; no result means no points."""
    assert prediction_points(predicted, result, DEFAULT_TIERS) == points
