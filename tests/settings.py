"""Test settings: the project's settings with a fast password hasher."""

from __future__ import annotations

import os

# Tests are a development entry point: DEBUG on unless the caller set it (pytest-django still
# runs each test with DEBUG off), so the production hardening (HTTPS redirect, secure cookies) is
# off, and the processes the tests start inherit the same.
os.environ.setdefault("DEBUG", "true")

from stats_project.settings import *  # noqa: F403

# The suite creates the embedded server's data folder and database when they are missing (only
# `migrate` and `make db-start` do otherwise).
if DATABASES["default"].get("EMBEDDED_PGDATA"):  # noqa: F405
    DATABASES["default"]["EMBEDDED_INITIALISE"] = True  # noqa: F405

# The default hasher costs ~0.3 s per user here; tests create many users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tasks that exist only for tests (a task that saves a match, a poison task), for the workers too.
PROCRASTINATE_IMPORT_PATHS = ["tests.support.worker_tasks"]

# Each test sees /health as it is now, not as an earlier test left it (the public answer is
# reused for a second in production; tests/test_public_health.py turns that on).
STATS_HEALTH_CACHE_SECONDS = 0.0
