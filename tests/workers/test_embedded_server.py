"""The embedded server (DATABASE_URL unset): starts and joins that survive what broke them.

Every test works on data folders of its own, copied from one migrated template folder built once
for the module, and stops every server it started: never the suite's `.pgdata`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import re
import shutil
import signal
import socket
import stat as file_mode
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from stats.processes import REPO_ROOT, free_port, wait_until
from stats_project.embedded_postgres import __main__ as verbs
from stats_project.embedded_postgres.server import (
    HELD_STOPPED,
    INITDB_PARTIAL,
    SOCKET_DIR_PREFIX,
    SYSTEM_USER,
    EmbeddedServerError,
    bin_path,
    server_status,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.timeout(180)

# Settings for child processes: the test settings, on the embedded server of a given folder.
SETTINGS = """
import os
from pathlib import Path

from stats_project.embedded_postgres import embedded_database
from tests.settings import *  # noqa: F403

# The suite's own processes create what is missing, as the tests do; a process of the project
# (a worker, the web) does not: EMBEDDED_TEST_INITIALISE=0.
DATABASES = {
    "default": embedded_database(
        Path(os.environ["EMBEDDED_TEST_PGDATA"]),
        initialise=os.environ.get("EMBEDDED_TEST_INITIALISE", "1") == "1",
    )
}
"""
# A process's first database connection: which server answered, and since when it runs.
CONNECT = """
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT current_setting('data_directory'), pg_postmaster_start_time()")
    folder, started = cursor.fetchone()
print(folder, started.isoformat(), sep="|")
"""
# The same through the function the backend calls, without Django's start-up (eight of those
# at once cost seconds of CPU here).
JOIN = """
import os
from pathlib import Path
import psycopg
from stats_project.embedded_postgres.server import ensure_server
address = ensure_server(Path(os.environ["EMBEDDED_TEST_PGDATA"]), "matchday", initialise=True)
with psycopg.connect(
    host=address.socket_dir, port=address.port, user="postgres", dbname="matchday"
) as conn:
    query = "SELECT current_setting('data_directory'), pg_postmaster_start_time()"
    folder, started = conn.execute(query).fetchone()
print(folder, started.isoformat(), sep="|")
"""


@pytest.fixture(scope="module")
def settings_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("settings")
    (folder / "embedded_test_settings.py").write_text(SETTINGS)
    return folder


def environment(settings_dir: Path, pgdata: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    return {
        **env,
        "PYTHONPATH": os.pathsep.join([str(settings_dir), str(REPO_ROOT)]),
        "DJANGO_SETTINGS_MODULE": "embedded_test_settings",
        "EMBEDDED_TEST_PGDATA": str(pgdata),
        "DEBUG": "true",
        **extra,
    }


def spawn(
    settings_dir: Path, pgdata: Path, *args: str, script: str = CONNECT, **extra: str
) -> subprocess.Popen[str]:
    """A child process of the project on the folder's server: `script`, or manage.py `args`."""
    command = ["manage.py", *args] if args else ["-c", script]
    return subprocess.Popen(
        [sys.executable, *command],
        cwd=REPO_ROOT,
        env=environment(settings_dir, pgdata, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def connect(settings_dir: Path, pgdata: Path, **extra: str) -> tuple[str, str]:
    """A first connection in a new process; the data folder and start time of the server."""
    child = spawn(settings_dir, pgdata, **extra)
    out, err = child.communicate(timeout=150)
    assert child.returncode == 0, err
    folder, started = out.strip().split("|")
    return folder, started


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """The module's data folders live here, not under pytest's own temporary folder: under root
    the server runs as another user, and every pytest session on the machine takes that user's
    way through /tmp/pytest-of-root away again."""
    folder = Path(tempfile.mkdtemp(prefix="matchday-embedded-"))
    folder.chmod(0o711)  # the server's system user (under root) passes; no one lists it
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def template(scratch: Path, settings_dir: Path) -> Path:
    """A migrated data folder whose server is stopped: copied, it saves each test an initdb."""
    pgdata = scratch / "template"
    try:
        migrate = spawn(settings_dir, pgdata, "migrate", "--verbosity", "0")
        _, err = migrate.communicate(timeout=150)
        assert migrate.returncode == 0, err
    finally:
        stop_server(pgdata)
    return pgdata


class Folders:
    """Data folders of one test; each server started in them is stopped at the end."""

    def __init__(self, root: Path, template: Path) -> None:
        self.root, self.template, self.made = root, template, list[Path]()

    def new(self, name: str = "pgdata") -> Path:
        """A folder that does not exist yet: the first start runs initdb."""
        self.made.append(self.root / name)
        return self.root / name

    def copy(self, name: str = "pgdata") -> Path:
        """A copy of the migrated template, its server stopped."""
        pgdata = self.new(name)
        # cp -a keeps the owner (the server's system user, under root).
        subprocess.run(["cp", "-a", str(self.template), str(pgdata)], check=True)
        return pgdata

    def stop_all(self) -> None:
        for pgdata in self.made:
            try:
                stop_server(pgdata)
            finally:
                status = server_status(pgdata)
                if status.pid is not None:  # half-started and unstoppable: no leftovers anyway
                    os.kill(status.pid, signal.SIGKILL)


@pytest.fixture
def folders(scratch: Path, template: Path) -> Iterator[Folders]:
    made = Folders(Path(tempfile.mkdtemp(dir=scratch)), template)
    made.root.chmod(0o711)
    yield made
    made.stop_all()
    shutil.rmtree(made.root)


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc (read before a kill: orphans change parent)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def kill_with_children(
    child: subprocess.Popen[str], *, spare: frozenset[int] = frozenset()
) -> None:
    """SIGKILL a child and everything it started (but `spare`), as an OOM kill or a power cut
    of that process tree would."""
    victims = [child.pid, *descendants(child.pid)]
    for pid in victims:
        if pid not in spare:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    child.communicate(timeout=30)


# --- dbshell --------------------------------------------------------------------------------


def test_dbshell_opens_the_embedded_server(folders: Folders, settings_dir: Path) -> None:
    """`manage.py dbshell` reaches the embedded server of the folder, not libpq's default socket,
    with the psql that comes with it."""
    pgdata = folders.copy()
    shell = spawn(
        settings_dir,
        pgdata,
        "dbshell",
        "--",
        "-tAc",
        "SELECT current_setting('data_directory') || '|' || current_database()",
    )
    out, err = shell.communicate(timeout=60)
    assert shell.returncode == 0, err
    assert out.strip() == f"{pgdata}|matchday"


# --- make db-status, db-stop, db-start ---------------------------------------------------------


def test_the_verbs_stop_start_and_report_keeping_the_data(
    folders: Folders, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`status` says stopped (exit 3) or ready with a psql command line (exit 0); `stop` and
    `start` keep the data."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    pgdata = folders.copy()
    psql = bin_path() / "psql"

    assert verbs.main(["status", "--pgdata", str(pgdata)]) == verbs.NOT_RUNNING
    assert capsys.readouterr().out == (
        f"embedded PostgreSQL in {pgdata}: stopped\n  log: {pgdata}/log\n"
    )

    assert verbs.main(["start", "--pgdata", str(pgdata)]) == 0
    pid = server_status(pgdata).pid
    assert capsys.readouterr().out == (
        f"embedded PostgreSQL in {pgdata}: ready (pid {pid})\n"
        f"  socket folder: {pgdata}, port 5432\n"
        f"  psql: {psql} -h {pgdata} -p 5432 -U postgres matchday\n"
        f"  log: {pgdata}/log\n"
    )
    with psycopg.connect(host=str(pgdata), user="postgres", dbname="matchday") as conn:
        [(migrations,)] = conn.execute("SELECT count(*) FROM django_migrations").fetchall()
    assert migrations > 0  # the template's data, kept

    assert verbs.main(["stop", "--pgdata", str(pgdata)]) == 0
    assert verbs.main(["stop", "--pgdata", str(pgdata)]) == 0
    held = "no process starts it again until `make db-start`"
    assert capsys.readouterr().out == (
        f"{pgdata}: stopped; {held}\n{pgdata}: was not running; {held}\n"
    )
    assert server_status(pgdata).state == "held stopped"
    assert verbs.main(["status", "--pgdata", str(pgdata)]) == verbs.NOT_RUNNING
    assert capsys.readouterr().out == (
        f"embedded PostgreSQL in {pgdata}: stopped by `make db-stop`; `make db-start` starts it\n"
        f"  log: {pgdata}/log\n"
    )


# --- Who starts and creates it ----------------------------------------------------------------


def test_a_server_stopped_with_db_stop_stays_stopped_until_db_start(
    folders: Folders, settings_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make db-stop`, then a process connects (as a restarted worker would): it is refused in
    one line that says what to do, and the server stays stopped; `make db-start` starts it and
    the process connects. Before: the process started it again."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    pgdata = folders.copy()
    assert verbs.main(["start", "--pgdata", str(pgdata)]) == 0
    assert verbs.main(["stop", "--pgdata", str(pgdata)]) == 0
    assert (pgdata / HELD_STOPPED).exists()

    child = spawn(settings_dir, pgdata)
    _, err = child.communicate(timeout=60)

    assert child.returncode != 0
    assert (
        f"the embedded PostgreSQL server in {pgdata} was stopped with `make db-stop`: "
        "`make db-start` starts it again"
    ) in err
    assert server_status(pgdata).state == "held stopped"

    assert verbs.main(["start", "--pgdata", str(pgdata)]) == 0
    assert not (pgdata / HELD_STOPPED).exists()
    folder, _ = connect(settings_dir, pgdata)
    assert folder == str(pgdata)


def test_a_server_stopped_by_accident_is_started_again(
    folders: Folders, settings_dir: Path
) -> None:
    """A server that stopped without `make db-stop` (killed, a reboot) is started again by the
    next process that connects, as before."""
    pgdata = damaged(folders, settings_dir)
    folder, _ = connect(settings_dir, pgdata, EMBEDDED_TEST_INITIALISE="0")
    assert folder == str(pgdata)


def test_a_socket_lock_left_empty_by_a_server_killed_mid_start_is_no_obstacle(
    folders: Folders, settings_dir: Path
) -> None:
    """A postmaster killed between creating its socket's lock file and writing it leaves the
    file empty, which PostgreSQL refuses to start beside; with no server running, the next
    process removes it and starts one."""
    pgdata = folders.copy()
    (pgdata / "postmaster.pid").unlink(missing_ok=True)
    (pgdata / ".s.PGSQL.5432.lock").write_text("")

    folder, _ = connect(settings_dir, pgdata, EMBEDDED_TEST_INITIALISE="0")

    assert folder == str(pgdata)


def test_only_migrate_creates_the_data_folder(folders: Folders, settings_dir: Path) -> None:
    """With no data folder, a command of the project that is not `migrate` says in one line that
    `make migrate` creates it, and creates nothing; `migrate` creates and migrates it. Before:
    any process (a worker) created a fresh empty one."""
    pgdata = folders.new()

    status = spawn(settings_dir, pgdata, "stats_status", EMBEDDED_TEST_INITIALISE="0")
    _, err = status.communicate(timeout=60)

    assert status.returncode == 1
    assert err.strip().splitlines()[-1] == (
        f"CommandError: database unreachable: there is no embedded PostgreSQL data folder in "
        f"{pgdata} yet: `make migrate` creates it (DATABASE_URL unset)"
    )
    assert "Traceback" not in err
    assert not pgdata.exists()

    migrate = spawn(
        settings_dir, pgdata, "migrate", "--verbosity", "0", EMBEDDED_TEST_INITIALISE="0"
    )
    _, err = migrate.communicate(timeout=150)
    assert migrate.returncode == 0, err
    assert server_status(pgdata).state == "ready"


def test_db_status_asks_the_server_and_a_lost_socket_is_said_at_once(
    folders: Folders, settings_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server runs but its socket file was deleted: `db-status` connects, finds no answer
    and exits 3; a process that connects is told so at once. Before: status 'ready' (exit 0),
    and a process waited 120 s before 'unreachable'."""
    pgdata = folders.copy()
    start_server(pgdata)
    (pgdata / ".s.PGSQL.5432").unlink()

    assert verbs.main(["status", "--pgdata", str(pgdata)]) == verbs.NOT_RUNNING
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"embedded PostgreSQL in {pgdata}: not answering (")

    started = time.monotonic()
    child = spawn(settings_dir, pgdata)
    _, err = child.communicate(timeout=60)
    assert child.returncode != 0
    assert time.monotonic() - started < 20
    assert f"its socket {pgdata}/.s.PGSQL.5432 is gone: `make db-stop` and `make db-start`" in err


# --- A worker on a database that is not ready -------------------------------------------------


def output_of(child: subprocess.Popen[str]) -> str:
    """Stop a child (SIGTERM, a graceful stop) and return what it wrote (stdout and stderr)."""
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=60)
    return out + err


def worker_lines(output: str) -> list[str]:
    """What the worker and run_worker said, without Django's start-up line."""
    return [line for line in output.splitlines() if line.strip() and "AXES: BEGIN" not in line]


def workers_on(pgdata: Path) -> int:
    with psycopg.connect(host=str(pgdata), user="postgres", dbname="matchday") as conn:
        [(count,)] = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchall()
    return int(count)


def test_run_worker_waits_for_a_server_stopped_with_db_stop(
    folders: Folders, settings_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make worker` on a server stopped with `make db-stop`: one line saying so, however long
    it waits, no worker started and the server left stopped; after `make db-start` the worker
    starts. Before: a worker started the server again (and crashed in a loop on a fresh one)."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    pgdata = folders.copy()
    assert verbs.main(["stop", "--pgdata", str(pgdata)]) == 0

    supervisor = spawn(
        settings_dir, pgdata, "run_worker", "--check-every", "0.2", EMBEDDED_TEST_INITIALISE="0"
    )
    try:
        time.sleep(5)
        assert server_status(pgdata).state == "held stopped"
        assert supervisor.poll() is None
        assert verbs.main(["start", "--pgdata", str(pgdata)]) == 0
        wait_until(lambda: workers_on(pgdata) == 1, timeout=60, what="the worker to start")
    finally:
        output = output_of(supervisor)

    lines = worker_lines(output)
    assert lines[0] == (
        f"worker not started: database stopped: the embedded PostgreSQL server in {pgdata} was"
        " stopped with `make db-stop`: `make db-start` starts it again; checking again every"
        " 0.2 s"
    ), output
    assert lines[1] == "the database is ready: starting the worker", output
    assert "Traceback" not in output


def test_run_worker_waits_for_a_missing_data_folder_and_creates_none(
    folders: Folders, settings_dir: Path
) -> None:
    """`make worker` where `.pgdata` was moved aside: one line saying that `make migrate`
    creates it, and nothing created meanwhile. Before: a fresh empty database within 35 s."""
    pgdata = folders.new()
    supervisor = spawn(
        settings_dir, pgdata, "run_worker", "--check-every", "0.2", EMBEDDED_TEST_INITIALISE="0"
    )
    try:
        time.sleep(5)
        assert supervisor.poll() is None
        assert not pgdata.exists()
    finally:
        output = output_of(supervisor)
    assert supervisor.returncode == 0
    assert worker_lines(output) == [
        f"worker not started: database missing: there is no embedded PostgreSQL data folder in"
        f" {pgdata} yet: `make migrate` creates it (DATABASE_URL unset); checking again every"
        " 0.2 s"
    ], output


def test_a_worker_on_a_database_not_migrated_waits_without_a_crash_loop(
    folders: Folders, settings_dir: Path
) -> None:
    """The worker itself (as systemd runs it) on a database that exists but is not migrated:
    one line saying so, still running, until `migrate`; then it starts. Before: it exited with
    a traceback (`function procrastinate_prune_stalled_workers_v1 ... does not exist`), and
    was restarted to fail again."""
    pgdata = folders.new()
    start_server(pgdata, "matchday")  # `make db-start` on a new folder: a database, no tables
    worker = spawn(settings_dir, pgdata, "procrastinate", "worker", EMBEDDED_TEST_INITIALISE="0")
    try:
        time.sleep(8)
        assert worker.poll() is None
        migrate = spawn(settings_dir, pgdata, "migrate", "--verbosity", "0")
        _, err = migrate.communicate(timeout=150)
        assert migrate.returncode == 0, err
        wait_until(lambda: workers_on(pgdata) == 1, timeout=60, what="the worker to start")
    finally:
        output = output_of(worker)

    lines = worker_lines(output)
    waiting = [line for line in lines if "worker not started" in line]
    assert len(waiting) == 1, output
    assert re.search(
        r"worker not started: database not migrated: \d+ migration\(s\) to apply \(`make "
        r"migrate`, or `manage.py migrate`\); checking again every 5 s$",
        waiting[0],
    ), output
    assert "Traceback" not in output
    assert any("the database is ready: the worker starts" in line for line in lines), output


# --- The socket folder, under root -----------------------------------------------------------

as_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="the server runs as its own user only under root"
)


def long_pgdata(root: Path) -> Path:
    """A data folder whose socket path would not fit in sun_path: the socket goes elsewhere."""
    return root / ("d" * 60) / ("e" * 60) / "pgdata"


@as_root
def test_the_socket_folder_is_private_unguessable_and_no_planted_link_is_followed(
    folders: Folders,
) -> None:
    """A long data path puts the socket in the temporary folder: in a new folder of its own,
    0700, the server's user's, of no name derived from the path; a symlink planted at the old
    predictable name changes nothing where it points; the folder goes with the server's stop.
    Before: /tmp/matchday-postgres-<sha256 of the path>, and the planted link's target was
    chowned to the server's user."""
    pgdata = long_pgdata(folders.root)
    for folder in (pgdata.parent.parent, pgdata.parent):
        folder.mkdir()
        folder.chmod(0o711)
    folders.made.append(pgdata)
    victim = Path(tempfile.mkdtemp(prefix="victim-"))
    predictable = Path(tempfile.gettempdir()) / (
        "matchday-postgres-" + hashlib.sha256(os.fsencode(pgdata)).hexdigest()[:12]
    )
    predictable.symlink_to(victim)
    try:
        address = start_server(pgdata)

        socket_dir = Path(address.socket_dir)
        assert socket_dir.parent == Path(tempfile.gettempdir())
        assert socket_dir.name.startswith(SOCKET_DIR_PREFIX)
        assert socket_dir != predictable
        info = socket_dir.lstat()
        assert file_mode.S_ISDIR(info.st_mode)
        assert file_mode.S_IMODE(info.st_mode) == 0o700
        assert info.st_uid == pwd.getpwnam(SYSTEM_USER).pw_uid
        assert victim.stat().st_uid == 0
        with psycopg.connect(
            host=address.socket_dir, port=address.port, user="postgres", dbname="postgres"
        ) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)

        stop_server(pgdata)
        assert not socket_dir.exists()
    finally:
        predictable.unlink()
        shutil.rmtree(victim)


@as_root
def test_no_folder_above_the_data_is_opened_to_everyone(folders: Folders) -> None:
    """A folder above `.pgdata` that the server's user may not pass is named in one line with
    what to do, and left as it was; one it may pass through its group is left as it was too.
    Before: every folder above it was made world-traversable (o+x) at each start."""
    closed = folders.root / "closed"
    closed.mkdir(mode=0o700)
    closed.chmod(0o700)

    with pytest.raises(EmbeddedServerError) as refused:
        start_server(closed / "pgdata")

    assert str(refused.value) == (
        f"the embedded PostgreSQL server runs as the system user 'pgserver' (PostgreSQL refuses"
        f" root), which cannot pass {closed} on its way to {closed / 'pgdata'}: let it through"
        f" (`setfacl -m u:pgserver:x {closed}`, or `chmod o+x {closed}`), keep the project"
        " elsewhere, or set DATABASE_URL"
    )
    assert file_mode.S_IMODE(closed.stat().st_mode) == 0o700

    shared = folders.root / "shared"
    shared.mkdir()
    os.chown(shared, 0, pwd.getpwnam(SYSTEM_USER).pw_gid)
    shared.chmod(0o710)
    folders.made.append(shared / "pgdata")
    start_server(shared / "pgdata")
    assert file_mode.S_IMODE(shared.stat().st_mode) == 0o710
    assert server_status(shared / "pgdata").state == "ready"


# --- Faults -----------------------------------------------------------------------------------


@pytest.mark.faults
@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_an_empty_pid_list_changes_nothing(
    folders: Folders, settings_dir: Path, running: bool
) -> None:
    """pgserver's `.handle_pids.json` left empty (0 bytes) by an interrupted exit: a process's
    first connection still starts or joins the server."""
    pgdata = folders.copy()
    if running:
        start_server(pgdata)
    (pgdata / ".handle_pids.json").write_text("")

    folder, _ = connect(settings_dir, pgdata)

    assert folder == str(pgdata)
    assert server_status(pgdata).state == "ready"


def damaged(folders: Folders, settings_dir: Path) -> Path:
    """A folder as the faults leave it: its server killed (SIGKILL), so its postmaster.pid is
    stale, and pgserver's pid list empty."""
    pgdata = folders.copy()
    connect(settings_dir, pgdata)
    pid = server_status(pgdata).pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: server_status(pgdata).pid is None, timeout=10, what="the server to die")
    assert (pgdata / "postmaster.pid").exists()
    (pgdata / ".handle_pids.json").write_text("")
    return pgdata


@pytest.mark.faults
@pytest.mark.parametrize("folder", ["fresh", "damaged"])
def test_eight_concurrent_starts_with_mixed_runtime_dirs(
    folders: Folders, settings_dir: Path, tmp_path: Path, folder: str
) -> None:
    """Eight processes connect at once, half of them with another XDG_RUNTIME_DIR (as from a
    login shell and a systemd unit): all eight get the same server."""
    pgdata = folders.new() if folder == "fresh" else damaged(folders, settings_dir)
    runtime_dirs = [tmp_path / "run-a", tmp_path / "run-b"]
    for runtime_dir in runtime_dirs:
        runtime_dir.mkdir(mode=0o700)

    started = time.monotonic()
    children = [
        spawn(settings_dir, pgdata, script=JOIN, XDG_RUNTIME_DIR=str(runtime_dirs[number % 2]))
        for number in range(8)
    ]
    results = [child.communicate(timeout=150) for child in children]
    elapsed = time.monotonic() - started

    failures = [
        err for child, (_, err) in zip(children, results, strict=True) if child.returncode != 0
    ]
    assert failures == []
    answers = {out.strip() for out, _ in results}
    assert len(answers) == 1, answers  # one server: same folder, same start time
    assert answers.pop().split("|")[0] == str(pgdata)
    assert not (pgdata / INITDB_PARTIAL).exists()
    print(f"FIGURE concurrent starts ({folder}): 8 of 8 connected in {elapsed:.2f} s")


@pytest.mark.faults
def test_a_start_after_a_starter_killed_during_initdb(folders: Folders, settings_dir: Path) -> None:
    """The first start of a new folder is killed with its initdb half-way: the next process
    runs initdb again and connects."""
    pgdata = folders.new()
    first = spawn(settings_dir, pgdata)
    wait_until(
        lambda: (pgdata / INITDB_PARTIAL / "global").exists(), timeout=30, what="initdb to run"
    )
    kill_with_children(first)
    assert not (pgdata / "PG_VERSION").exists()

    folder, _ = connect(settings_dir, pgdata)

    assert folder == str(pgdata)
    assert not (pgdata / INITDB_PARTIAL).exists()


@pytest.mark.faults
@pytest.mark.parametrize("server_killed", [False, True], ids=["server-lives", "server-killed"])
def test_a_start_while_another_is_killed_mid_start(
    folders: Folders, settings_dir: Path, server_killed: bool
) -> None:
    """A process is killed while its pg_ctl starts the server, with or without the server it
    launched: a process starting at that moment gets a running server."""
    pgdata = folders.copy()
    first = spawn(settings_dir, pgdata)
    # The file appears empty and gains its lines as the server starts: wait for its pid.
    wait_until(
        lambda: _pid_written(pgdata / "postmaster.pid"), timeout=30, what="the server to launch"
    )
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    second = spawn(settings_dir, pgdata)
    kill_with_children(
        first,
        spare=frozenset() if server_killed else frozenset([postmaster, *descendants(postmaster)]),
    )

    out, err = second.communicate(timeout=150)

    assert second.returncode == 0, err
    assert out.split("|")[0] == str(pgdata)
    status = server_status(pgdata)
    assert status.state == "ready"
    assert (status.pid == postmaster) is not server_killed


@pytest.mark.faults
def test_a_half_started_server_is_reported_with_its_log_and_a_way_out(
    folders: Folders, settings_dir: Path
) -> None:
    """A folder whose server cannot start (here its control file is gone, as after an initdb
    killed by an older version): the command says why, where the log is and what to do, with
    no traceback."""
    pgdata = folders.copy()
    (pgdata / "global" / "pg_control").unlink()

    command = spawn(settings_dir, pgdata, "migrate", "--verbosity", "0")
    _, err = command.communicate(timeout=150)

    assert command.returncode == 1
    assert "Traceback" not in err
    assert f"the embedded PostgreSQL server in {pgdata} did not start" in err
    assert "pg_control" in err  # the server's own complaint
    assert f"Its log is {pgdata / 'log'}" in err
    assert "make clean-db" in err


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310  (our own server)
            status: int = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status


@pytest.mark.faults
def test_gunicorn_first_requests_after_a_fault_answer_200(
    folders: Folders, settings_dir: Path, tmp_path: Path
) -> None:
    """Right after the faults (server killed, pid list emptied), the first requests through a
    two-worker gunicorn, which start the server themselves, all answer 200."""
    pgdata = damaged(folders, settings_dir)
    port = free_port()
    with open(tmp_path / "gunicorn.log", "w") as log:
        web = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "stats_project.wsgi"),
                *("--workers", "2", "--bind", f"127.0.0.1:{port}"),
            ],
            cwd=REPO_ROOT,
            env=environment(settings_dir, pgdata),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def listening() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, timeout=30, what="gunicorn to listen")
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(get, [f"http://127.0.0.1:{port}/health"] * 4))
        elapsed = time.monotonic() - started
    finally:
        web.terminate()
        web.wait(timeout=30)

    assert statuses == [200] * 4, (tmp_path / "gunicorn.log").read_text()
    assert server_status(pgdata).state == "ready"
    print(f"FIGURE gunicorn: 4 first requests after the fault answered in {elapsed:.2f} s")


def _pid_written(pid_file: Path) -> bool:
    try:
        return pid_file.read_text().split()[0].isdigit()
    except (FileNotFoundError, IndexError):
        return False
