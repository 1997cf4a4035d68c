"""The cron endpoint, as tests call it."""

from __future__ import annotations

CRON_URL = "/api/cron/update-stats"
# Long enough for the production check (32+ characters), and easy to find in a log.
CRON_SECRET = "s3cret-for-tests-0123456789-abcdefghij"
