"""The web behind a real PgBouncer in transaction pooling, as docs/deploy/replication.md deploys
it: every web path (the cron endpoint, the public reads, the admin) works while two gunicorn
workers share ONE server connection, lent per transaction, and leaves nothing of a session behind
on it (no advisory lock, no open transaction). The public reads are prepared statements where
PgBouncer keeps them (1.21+, `max_prepared_statements`), and turned off
(`DATABASE_PREPARED_STATEMENTS=false`) on an older one, as the deploy docs say.

PgBouncer is Debian's package (`apt-get install pgbouncer`); without it the test is skipped,
except under CI=true, where .ci/run installs it and its absence fails the run.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.test import Client

from stats.models import Match
from stats.processes import REPO_ROOT, wait_until
from tests.support.factories import complete, make_match, make_user
from tests.support.workers import process_env

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
CRON_SECRET = "a-cron-secret-of-at-least-32-characters-for-this-test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def accepts(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=1).close()
    except psycopg.OperationalError:
        return False
    return True


def keeps_prepared_statements() -> bool:
    """Whether this PgBouncer keeps a client's prepared statements across the server connections
    it lends (1.21+, with max_prepared_statements); Debian 12's 1.18 does not."""
    version = subprocess.run([PGBOUNCER, "--version"], capture_output=True, text=True, check=True)
    found = re.search(r"PgBouncer (\d+)\.(\d+)", version.stdout)
    return found is not None and (int(found[1]), int(found[2])) >= (1, 21)


@pytest.fixture
def pgbouncer() -> Iterator[str]:
    """A PgBouncer in transaction mode with one server connection in front of this test's
    database; the URL the web uses to reach it, as the deploy docs write it."""
    if not os.path.exists(PGBOUNCER):
        if os.environ.get("CI") == "true":
            pytest.fail("PgBouncer is not installed (CI=true: .ci/run installs Debian's package)")
        pytest.skip("PgBouncer is not installed (Debian: apt-get install pgbouncer)")
    params = connection.get_connection_params()
    host, user = str(params.get("host") or "localhost"), params.get("user") or "postgres"
    # Not under pytest's tmp_path, which only root may enter: PgBouncer drops to another user.
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    run_as = ""
    if os.geteuid() == 0:  # PgBouncer refuses to run as root: as the owner of the server's socket
        owner = os.stat(host).st_uid if host.startswith("/") else pwd.getpwnam("nobody").pw_uid
        os.chown(folder, owner, -1)
        run_as = f"user = {pwd.getpwuid(owner).pw_name}"
    port = free_port()
    password = params.get("password") or ""
    (folder / "userlist.txt").write_text(f'"{user}" "{password}"\n')
    (folder / "pgbouncer.ini").write_text(
        f"""
[databases]
matchday = host={host} port={params.get("port") or 5432} dbname={params["dbname"]} user={user}
{f"password={password}" if password else ""}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/userlist.txt
pool_mode = transaction
default_pool_size = 1
max_client_conn = 100
{"max_prepared_statements = 100" if keeps_prepared_statements() else ""}
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
{run_as}
"""
    )
    server = subprocess.Popen(
        [PGBOUNCER, str(folder / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"postgres://{user}@127.0.0.1:{port}/matchday"
    try:
        try:
            wait_until(lambda: accepts(url), timeout=15, what="PgBouncer to accept connections")
        except TimeoutError:
            log = folder / "pgbouncer.log"
            raise AssertionError(log.read_text() if log.exists() else "no log") from None
        yield f"{url}?sslmode=disable&disable_server_side_cursors=True"
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def web(pgbouncer: str, tmp_path: Path) -> Iterator[str]:
    """gunicorn with two workers whose DATABASE_URL is the PgBouncer; its base URL."""
    port = free_port()
    env = {
        **os.environ,
        **process_env(
            pgbouncer,
            CRON_SECRET=CRON_SECRET,
            CONN_MAX_AGE="60",
            DEBUG="true",
            # As docs/deploy/replication.md says: the public reads' prepared statements only
            # where PgBouncer keeps them.
            DATABASE_PREPARED_STATEMENTS=str(keeps_prepared_statements()).lower(),
        ),
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "stats_project.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--no-control-socket",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: status_of(f"{base}/api/leaderboard") == 200, timeout=60, what="web")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def request(url: str, *, method: str = "GET", headers: dict[str, str] | None = None) -> Any:
    try:
        # The URL is the test's own gunicorn on http://127.0.0.1.
        ask = urllib.request.Request(url, method=method, headers=headers or {})  # noqa: S310
        return urllib.request.urlopen(ask, timeout=30)  # noqa: S310
    except urllib.error.HTTPError as answer:
        return answer


def status_of(url: str, **options: Any) -> int:
    try:
        return int(request(url, **options).status)
    except OSError:
        return 0


def server_sessions_left_over() -> list[tuple[Any, ...]]:
    """Advisory locks held, and transactions left open, by any other session of this test's
    database: what a session-level leftover of a web request would look like on the server
    connection PgBouncer lends out."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.pid, a.state, l.locktype
            FROM pg_stat_activity a
            LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory'
            WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
              AND (a.state LIKE 'idle in transaction%%' OR l.pid IS NOT NULL)
            """
        )
        return list(cursor.fetchall())


@pytest.mark.django_db(transaction=True)
def test_the_web_works_through_pgbouncer_in_transaction_mode(web: str) -> None:
    """Two gunicorn workers, one server connection lent per transaction: the cron endpoint
    (queued, then already queued), the public reads and the admin pages all answer 200, many
    times over and interleaved, and the server connection is left with no session state."""
    match = complete(make_match(), 2, 1)
    staff = Client()
    staff.force_login(make_user(is_staff=True, is_superuser=True))
    session = {"Cookie": f"sessionid={staff.cookies['sessionid'].value}"}
    cron = {"Authorization": f"Bearer {CRON_SECRET}"}

    first = json.load(request(f"{web}/api/cron/update-stats", method="POST", headers=cron))
    again = json.load(request(f"{web}/api/cron/update-stats", method="POST", headers=cron))
    assert (first["status"], again["status"], again["job_id"]) == (
        "queued",
        "already_queued",
        first["job_id"],
    )

    pages = [
        ("/api/leaderboard", {}),
        ("/leaderboard/", {}),
        ("/admin/", session),
        ("/admin/stats/match/", session),
        (f"/admin/stats/match/{match.pk}/change/", session),
        ("/admin/procrastinate/procrastinatejob/", session),
    ]
    answers: list[tuple[str, int]] = []

    def browse() -> None:
        for _ in range(8):  # past psycopg's prepare threshold (5) on each connection
            for path, headers in pages:
                answers.append((path, status_of(f"{web}{path}", headers=headers)))

    browsers = [threading.Thread(target=browse) for _ in range(3)]
    for browser in browsers:
        browser.start()
    for browser in browsers:
        browser.join(timeout=120)
    assert sorted(set(answers)) == sorted((path, 200) for path, _ in pages)
    assert len(answers) == 3 * 8 * len(pages)
    assert Match.objects.get(pk=match.pk).status == Match.Status.COMPLETED
    assert server_sessions_left_over() == []
