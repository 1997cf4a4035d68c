"""The admin, for running the league and for inspecting the pipeline during an incident.

Importing the modules registers their model admins.
"""

from __future__ import annotations

from stats.admin import jobs, league, players, statistics

__all__ = ["jobs", "league", "players", "statistics"]
