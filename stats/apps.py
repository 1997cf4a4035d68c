from __future__ import annotations

from django.apps import AppConfig


class StatsConfig(AppConfig):
    name = "stats"
    verbose_name = "Matchday stats"

    def ready(self) -> None:
        from stats import checks, signals  # noqa: F401  (registers checks, receivers)
        from stats.security_checks import refuse_unsafe_settings

        refuse_unsafe_settings()
