from __future__ import annotations

from django.urls import URLPattern, path

from stats.views import cron, league, ops

urlpatterns: list[URLPattern] = [
    path("api/leaderboard", league.leaderboard_api, name="leaderboard-api"),
    path("api/users/<str:user_id>/stats", league.user_stats_api, name="user-stats-api"),
    path("leaderboard/", league.leaderboard_html, name="leaderboard"),
    path("api/cron/update-stats", cron.cron_update_stats, name="cron-update-stats"),
    path("health", ops.health, name="health"),
    path("metrics", ops.metrics, name="metrics"),
]
