#!/usr/bin/env python
from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stats_project.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from stats_project.embedded_postgres.server import EmbeddedServerError

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A settings refusal (stats/security_checks.py, a malformed variable) says what to do
        # in one line: a traceback would bury it.
        sys.exit(f"ImproperlyConfigured: {exc}")
    except Exception as exc:
        # The embedded server's errors say what to do (its log, a way out): no traceback.
        cause = exc if isinstance(exc, EmbeddedServerError) else exc.__cause__
        if not isinstance(cause, EmbeddedServerError):
            raise
        sys.exit(f"error: {cause}")


if __name__ == "__main__":
    main()
