from __future__ import annotations

from django.contrib import admin

from stats.models import Competition, Match, Prediction, Team


@admin.register(Competition)
class CompetitionAdmin(admin.ModelAdmin[Competition]):
    list_display = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name", "slug")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin[Team]):
    search_fields = ("name",)


@admin.register(Match)
class MatchAdmin(admin.ModelAdmin[Match]):
    list_display = ("__str__", "status", "kickoff_at", "completed_at", "points_calculated_at")
    list_filter = ("competition", "status", "round")
    list_select_related = ("competition", "home_team", "away_team")
    autocomplete_fields = ("home_team", "away_team")
    readonly_fields = ("points_calculated_at",)


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin[Prediction]):
    list_display = ("user", "match", "home_score", "away_score", "points")
    list_filter = ("match__competition",)
    raw_id_fields = ("user", "match")
    readonly_fields = ("points",)
