"""Settings for matchday stats, read from the environment (a `.env` file is honoured).

Tunables the code reads while running (`CRON_SECRET`, `STATS_*`) are plain settings read where
they are used, never copied at import, so `override_settings` changes behaviour at once.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import django_stubs_ext
import environ

from stats_project.embedded_postgres import embedded_database

# Lets the admin and querysets be subscripted (`ModelAdmin[Match]`) at runtime, as mypy wants.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

# DEBUG fails closed: off unless set; the development entry points (the Makefile's targets, the
# test settings) turn it on. Whenever the site could be public (DEBUG off, or a non-local host in
# ALLOWED_HOSTS) every process refuses, in one line, the development key, a SECRET_KEY under 50
# characters and a CRON_SECRET or METRICS_TOKEN under 32 at start-up (stats/security_checks.py).
INSECURE_DEV_SECRET_KEY = "django-insecure-matchday-stats-dev-only"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEV_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

# HTTPS hardening, on by default whenever DEBUG is off; each can be overridden. Behind a proxy that
# terminates TLS, set TRUST_X_FORWARDED_PROTO=true so Django knows the request was HTTPS.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]  # probed over plain HTTP from inside
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
# Preloading is hard to undo (browsers ship the list): opt in once HTTPS is there for good.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# security.W021 asks for HSTS preload, which is opt-in here on purpose (above).
SILENCED_SYSTEM_CHECKS = ["security.W021"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "procrastinate.contrib.django",
    "stats",
    "axes",  # throttles failed logins (the admin's): AXES_* below
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "stats.csp.ContentSecurityPolicyMiddleware",
    # Before CSRF: a wrong method is a 405, HEAD runs as GET, one JSON error shape under /api/.
    "stats.middleware.HttpMannersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "stats.middleware.DatabaseUnavailableMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

# Failed logins are throttled (stats/login_throttle.py): a client is refused for
# AXES_COOLOFF_TIME after AXES_FAILURE_LIMIT wrong passwords for one username, or after
# ADDRESS_FAILURE_LIMIT (20) failures whatever the usernames (429, even with the right password).
# A client is an IPv4 address or an IPv6 /64; behind the proxy every request comes from
# 127.0.0.1, so the client's address is the proxy's X-Real-IP (stats/client_ip.py) and one
# attacker does not lock everyone out.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "stats.login_throttle.LoginThrottle"
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "stats.client_ip.client_ip"
# The refusal as a page in the admin's style; docs/operations.md says how to lift a lockout.
AXES_LOCKOUT_TEMPLATE = "stats/locked_out.html"

ROOT_URLCONF = "stats_project.urls"
# Players sign in on the site's own page (the admin's is for staff).
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "leaderboard"
LOGOUT_REDIRECT_URL = "leaderboard"
# Under /api/ a refused CSRF check is JSON like every other error; elsewhere Django's page.
CSRF_FAILURE_VIEW = "stats.http.csrf_failure"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "stats_project.wsgi.application"
ASGI_APPLICATION = "stats_project.asgi.application"

# DATABASE_URL selects any PostgreSQL server; unset, an embedded server in .pgdata/ is started
# on the first connection (not here at import, so `manage.py help` or mypy start nothing).
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    DATABASES["default"]["ENGINE"] = "stats_project.embedded_postgres"
    # A socket folder is written percent-encoded in a URL (postgres://u@%2Frun%2Fpg/db).
    DATABASES["default"]["HOST"] = unquote(DATABASES["default"]["HOST"])
else:
    DATABASES = {"default": embedded_database(BASE_DIR / ".pgdata")}
# Persistent connections save a worker's job ~10 ms (a connect, then a new server process's cold
# caches), so workers and gunicorn run with CONN_MAX_AGE=60 (`make worker`, docs/deploy/). The
# default stays 0: runserver starts a thread per request, and persistent connections would pile
# up until PostgreSQL refuses more clients. Health checks replace a connection the server dropped.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
# DATABASE_REPLICA_URL: a streaming replica of that server for the public reads (stats/replica.py
# chooses per request, and falls back to the primary when the replica is down or behind). It
# connects with a short timeout: a replica that hangs must cost a request little. Tests mirror it
# onto the test database.
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db_url("DATABASE_REPLICA_URL")
    DATABASES["replica"]["ENGINE"] = "stats_project.embedded_postgres"
    DATABASES["replica"]["HOST"] = unquote(DATABASES["replica"]["HOST"])
    DATABASES["replica"].setdefault("CONN_MAX_AGE", DATABASES["default"]["CONN_MAX_AGE"])
    DATABASES["replica"].setdefault("CONN_HEALTH_CHECKS", True)
    DATABASES["replica"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 2)
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
# DATABASE_POOL=<n>: psycopg's connection pool (Django 5.1+), at most n connections per process
# and alias, handed to each request and taken back at its end: for servers with a thread per
# request (runserver, gunicorn's gthread), where CONN_MAX_AGE keeps one idle connection per thread
# ever started. A pool excludes persistent connections, so CONN_MAX_AGE is 0 with it. Measured
# with gunicorn's sync workers in bench/README.md ("Reads over HTTP").
if _pool_size := env.int("DATABASE_POOL", default=0):
    for _alias in DATABASES.values():
        _alias["CONN_MAX_AGE"] = 0
        _alias["OPTIONS"]["pool"] = {"min_size": 1, "max_size": _pool_size, "timeout": 10}
# DATABASE_PREPARED_STATEMENTS (default true): the public reads (stats.sql.prepared_cursor) are
# prepared on a connection after their 5th run there, so PostgreSQL plans their long statements
# once per connection instead of at every request (docs/scaling.md, "Reads over HTTP"); Django's
# own queries bind client-side and are never prepared. A prepared statement lives in a server
# session: behind PgBouncer in transaction mode it needs PgBouncer 1.21+ with
# max_prepared_statements > 0 (docs/deploy/pgbouncer.ini); with an older one set it to false.
if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
    for _alias in DATABASES.values():
        _alias["OPTIONS"].setdefault("prepare_threshold", 5)
# Acts only inside a public read (stats/replica.py); otherwise every query is the primary's.
DATABASE_ROUTERS = ["stats.replica.PublicReadRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()


def _at_least(level: str) -> str:
    """The stricter of `level` and LOG_LEVEL, for a logger with a level of its own: it hands its
    records to the root's handler whatever the root's level, so LOG_LEVEL=ERROR must quiet it
    too. (An unknown LOG_LEVEL is refused by the root's own configuration, with its name.)"""
    asked = logging.getLevelName(LOG_LEVEL)
    return LOG_LEVEL if isinstance(asked, int) and asked > logging.getLevelName(level) else level


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    # A worker whose database restarts says so in one line (stats/worker_logs.py).
    "filters": {"database_loss": {"()": "stats.worker_logs.DatabaseLossFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["database_loss"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Listing it drops Django's own handlers: its console handler (active under DEBUG)
        # printed each 4xx/5xx line a second time beside the root's. Every django.* line
        # (runserver's access lines too) now goes once through the root's handler.
        "django": {"level": _at_least("INFO")},
        # Procrastinate logs every poll at DEBUG; its INFO lines (job started/ended) are enough.
        "procrastinate": {"level": _at_least("INFO")},
        "procrastinate.blueprints": {"level": _at_least("WARNING")},
        # "Deferred 1 job" on every save; every periodic registration and deferral.
        "procrastinate.jobs": {"level": _at_least("WARNING")},
        "procrastinate.periodic": {"level": _at_least("WARNING")},
        "pgserver": {"level": _at_least("WARNING")},
    },
}

# --- matchday stats ------------------------------------------------------------------------
CRON_SECRET = env.str("CRON_SECRET", default="")
# Bearer token for /metrics and the detailed /health; unset, both refuse everyone.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
STATS_REFRESH_DELAY = env.int("STATS_REFRESH_DELAY", default=60)
STATS_POINTS_EXACT = env.int("STATS_POINTS_EXACT", default=3)
STATS_POINTS_GOAL_DIFFERENCE = env.int("STATS_POINTS_GOAL_DIFFERENCE", default=2)
STATS_POINTS_OUTCOME = env.int("STATS_POINTS_OUTCOME", default=1)
# Worker tuning (Procrastinate): jobs run at once per worker; how often a worker beats, and
# after how long without a beat its running jobs count as stalled and are rescued.
STATS_WORKER_CONCURRENCY = env.int("STATS_WORKER_CONCURRENCY", default=2)
# Each worker also rescues the jobs of dead workers right after its beat (stats/rescue.py): a
# dead worker's job runs again within the timeout plus one interval (10 s here).
STATS_WORKER_HEARTBEAT_INTERVAL = env.float("STATS_WORKER_HEARTBEAT_INTERVAL", default=2.0)
STATS_STALLED_WORKER_TIMEOUT = env.float("STATS_STALLED_WORKER_TIMEOUT", default=8.0)
STATS_WORKER_POLL_INTERVAL = env.float("STATS_WORKER_POLL_INTERVAL", default=5.0)
STATS_JOB_RETENTION_HOURS = env.int("STATS_JOB_RETENTION_HOURS", default=72)
# Failed jobs (and their recorded errors) are kept longer, for inspection, then pruned too.
STATS_FAILED_JOB_RETENTION_DAYS = env.int("STATS_FAILED_JOB_RETENTION_DAYS", default=30)
PROCRASTINATE_ON_APP_READY = "stats.rescue.on_app_ready"
PROCRASTINATE_WORKER_DEFAULTS = {
    "concurrency": STATS_WORKER_CONCURRENCY,
    "update_heartbeat_interval": STATS_WORKER_HEARTBEAT_INTERVAL,
    "stalled_worker_timeout": STATS_STALLED_WORKER_TIMEOUT,
    # LISTEN/NOTIFY starts a new job at once; polling only catches delayed jobs falling due.
    "fetch_job_polling_interval": STATS_WORKER_POLL_INTERVAL,
}
# /health answers 503 when a job due to run has waited longer than this, in seconds.
STATS_HEALTH_MAX_QUEUE_AGE = env.int("STATS_HEALTH_MAX_QUEUE_AGE", default=300)
# The public /health answer is reused this long (seconds, at most 1) in each process.
STATS_HEALTH_CACHE_SECONDS = env.float("STATS_HEALTH_CACHE_SECONDS", default=1.0)
# A refresh whose log would have it read more rows than this share of the league's predictions
# (and at least the floor) recounts the statistics from the predictions instead (a rebuild,
# which writes only what differs): after a burst of results that is the faster path. Measured
# crossover: docs/scaling.md, "A burst of results".
STATS_RECOUNT_LEAGUE_SHARE = env.float("STATS_RECOUNT_LEAGUE_SHARE", default=0.25)
STATS_RECOUNT_MIN_ROWS = env.int("STATS_RECOUNT_MIN_ROWS", default=100_000)
# How long a view refresh waits for a conflicting lock before it gives up (and is retried).
STATS_REFRESH_LOCK_TIMEOUT = env.int("STATS_REFRESH_LOCK_TIMEOUT", default=30)
# A private group with at least this many members has its boards kept as counts (moved by each
# refresh and each membership change) and read like the league's; a smaller one is ranked when
# read. Measured: bench/group_boards.py (docs/scaling.md).
STATS_GROUP_COUNTS_MIN_MEMBERS = env.int("STATS_GROUP_COUNTS_MIN_MEMBERS", default=1000)
# Public reads leave the replica when it lags more than this many seconds behind the primary;
# its state is checked at most once per interval in each process.
STATS_REPLICA_MAX_LAG = env.float("STATS_REPLICA_MAX_LAG", default=30.0)
STATS_REPLICA_CHECK_INTERVAL = env.float("STATS_REPLICA_CHECK_INTERVAL", default=5.0)
