"""The benchmark database: recreated on the configured server, migrated, described."""

from __future__ import annotations

import os
import platform
from typing import Any

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections
from psycopg import sql


def _maintenance_connection() -> psycopg.Connection[Any]:
    """An autocommit connection to the `postgres` database of the configured server."""
    params = connection.get_connection_params()  # starts the embedded server if it is the one
    params["dbname"] = "postgres"
    conn: psycopg.Connection[Any] = psycopg.connect(**params, autocommit=True)
    return conn


def database_recreate() -> str:
    """Drop and create the benchmark database (settings NAME), then migrate it; return its name."""
    database_drop()
    name: str = settings.DATABASES["default"]["NAME"]
    with _maintenance_connection() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    call_command("migrate", verbosity=0)
    return name


def database_drop() -> None:
    """Drop the database the settings name (a benchmark's scratch database, once measured)."""
    name: str = settings.DATABASES["default"]["NAME"]
    connections.close_all()
    with _maintenance_connection() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def server_description() -> dict[str, Any]:
    """The machine and the PostgreSQL server the figures were measured on."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        (version,) = cursor.fetchone()
        server_settings = {}
        for name in (
            "shared_buffers",
            "work_mem",
            "maintenance_work_mem",
            "max_parallel_workers_per_gather",
            "synchronous_commit",
            "fsync",
        ):
            cursor.execute(
                sql.SQL("SHOW {}").format(sql.Identifier(name)).as_string(cursor.connection)
            )
            server_settings[name] = cursor.fetchone()[0]
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgresql": version.split(" on ")[0],
        "postgresql_settings": server_settings,
        "server": "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded (pgserver)",
        "database": settings.DATABASES["default"]["NAME"],
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
