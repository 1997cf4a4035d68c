"""The admin's list pages (app_model), and which of them are read-only."""

from __future__ import annotations

READ_ONLY = [
    "stats_usertotal",
    "stats_competitiontotal",
    "stats_roundtotal",
    "stats_matchsummary",
    "stats_viewrefresh",
    "stats_joberror",
]
CHANGELISTS = [
    "stats_competition",
    "stats_team",
    "stats_match",
    "stats_prediction",
    *READ_ONLY,
    "procrastinate_procrastinatejob",
]
