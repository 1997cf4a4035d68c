"""The project's settings pointed at the benchmark database; used by the runner and its workers.

The server is the configured one (DATABASE_URL, or the embedded server when unset); only the
database name changes, so a benchmark never reads or writes development data.
"""

from __future__ import annotations

import os
import secrets
from typing import Any, cast

from stats_project.settings import *  # noqa: F403
from stats_project.settings import ALLOWED_HOSTS, DATABASES, INSTALLED_APPS, LOGGING

DEFAULT_BENCH_DATABASE = "matchday_bench"

DATABASES["default"]["NAME"] = os.environ.get("BENCH_DATABASE") or DEFAULT_BENCH_DATABASE
# A benchmark creates its database, and on a fresh clone the embedded server's folder too.
if DATABASES["default"].get("EMBEDDED_PGDATA"):
    DATABASES["default"]["EMBEDDED_INITIALISE"] = True

# Installed for its no-op task (bench/tasks.py), which measures the worker's job rate.
INSTALLED_APPS = [*INSTALLED_APPS, "bench"]

# Reads go through the API with Django's test Client, as in production: no DEBUG query log.
# With DEBUG off the project refuses the development SECRET_KEY; the benchmark signs nothing
# that outlives its process, so a random one does.
DEBUG = False
SECRET_KEY = os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50)
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]
SECURE_SSL_REDIRECT = False  # plain HTTP on loopback, as behind the TLS proxy

# A refresh logs one INFO line per view, Procrastinate one per job: the runner prints its own.
if not os.environ.get("LOG_LEVEL"):
    cast(dict[str, Any], LOGGING["root"])["level"] = "WARNING"
    cast(dict[str, Any], LOGGING["loggers"])["procrastinate"]["level"] = "WARNING"
