from __future__ import annotations

from django.urls import URLPattern, path

from stats import views

urlpatterns: list[URLPattern] = [
    path("api/leaderboard", views.leaderboard_api, name="leaderboard-api"),
    path("api/users/<str:user_id>/stats", views.user_stats_api, name="user-stats-api"),
    path("leaderboard/", views.leaderboard_page, name="leaderboard"),
    path("api/cron/update-stats", views.cron_update_stats, name="cron-update-stats"),
    path("health", views.health, name="health"),
    path("metrics", views.metrics, name="metrics"),
]
