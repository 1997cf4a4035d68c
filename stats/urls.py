from __future__ import annotations

from collections.abc import Callable
from typing import cast

from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.urls import URLPattern, URLResolver, path
from django.views.generic import RedirectView

from stats.http import allow_methods
from stats.views import cron, league, ops, pages
from stats.views.api import api

# Django's class-based views as the function views allow_methods declares methods on.
View = Callable[..., HttpResponse]

urlpatterns: list[URLPattern | URLResolver] = [
    # Hand-written: listed before the API's own routes (the API's document describes them).
    path("api/leaderboard", league.leaderboard_api, name="leaderboard-api"),
    path("api/users/<str:user_id>/stats", league.user_stats_api, name="user-stats-api"),
    path("api/cron/update-stats", cron.cron_update_stats, name="cron-update-stats"),
    path("api/", api.urls),
    path("leaderboard/", league.leaderboard_html, name="leaderboard"),
    # The site's root is the league's board (a temporary redirect: the root may become a page).
    path(
        "",
        allow_methods("GET")(cast(View, RedirectView.as_view(pattern_name="leaderboard"))),
        name="home",
    ),
    path("predict/", pages.predict, name="predict"),
    path("groups/", pages.my_groups, name="my-groups"),
    path("groups/<slug:slug>/", pages.group_board, name="group-board"),
    path(
        "login/",
        allow_methods("GET", "POST")(
            cast(View, auth_views.LoginView.as_view(template_name="stats/login.html"))
        ),
        name="login",
    ),
    path(
        "logout/", allow_methods("POST")(cast(View, auth_views.LogoutView.as_view())), name="logout"
    ),
    path("health", ops.health, name="health"),
    path("metrics", ops.metrics, name="metrics"),
]
