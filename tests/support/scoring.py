"""The scoring rules as a table of cases, and the default tiers: one list for the Python
reference's tests and the SQL's."""

from __future__ import annotations

from stats.scoring import PointTiers

DEFAULT_TIERS = PointTiers(exact=3, goal_difference=2, outcome=1)

# (predicted, result, points); a result of None is a void match.
TRUTH_TABLE: list[tuple[tuple[int, int], tuple[int, int] | None, int | None]] = [
    ((2, 1), (2, 1), 3),  # exact
    ((0, 0), (0, 0), 3),  # exact draw
    ((3, 2), (2, 1), 2),  # same goal difference
    ((1, 1), (2, 2), 2),  # a draw predicted as another draw
    ((0, 3), (1, 4), 2),  # same away margin
    ((3, 0), (1, 0), 1),  # right winner, wrong difference
    ((0, 2), (1, 4), 1),  # right away win
    ((1, 0), (0, 1), 0),  # wrong winner
    ((1, 1), (1, 0), 0),  # draw predicted, home win
    ((2, 0), (1, 1), 0),  # home win predicted, draw
    ((2, 1), None, None),  # void match
]
