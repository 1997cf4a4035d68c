"""The admin's list pages (app_model), and which of them are read-only."""

from __future__ import annotations

CHANGELISTS = [
    "stats_competition",
    "stats_team",
    "stats_match",
    "stats_prediction",
    "stats_leaderboardentry",
    "stats_competitionstanding",
    "stats_roundstanding",
    "stats_competitiontotal",
    "stats_matchsummary",
    "stats_viewrefresh",
    "stats_joberror",
    "procrastinate_procrastinatejob",
]
READ_ONLY = [
    "stats_leaderboardentry",
    "stats_competitionstanding",
    "stats_roundstanding",
    "stats_competitiontotal",
    "stats_matchsummary",
    "stats_viewrefresh",
    "stats_joberror",
]
