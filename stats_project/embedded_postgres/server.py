"""Start, join, stop and inspect the embedded PostgreSQL server of a data folder.

The `pgserver` package supplies the PostgreSQL binaries; starting and finding the server is ours.
Starts and stops are serialised by an exclusive `flock` on `<pgdata>/.server.lock`, so processes
from any environment (a login shell, systemd, cron: whatever their `XDG_RUNTIME_DIR`) take turns,
and the kernel releases the lock of a process that dies mid-start. The running server is found
through PostgreSQL's own `postmaster.pid`; pgserver's bookkeeping (`.handle_pids.json`) is never
read, so a damaged one changes nothing.

Who may do what: `make db-start` (`start_server`) creates and starts; a connection
(`ensure_server`) joins a running server and starts again one that stopped by accident (a crash,
a reboot), but creates a data folder or database only when its settings allow it (`migrate`,
`demo`, the tests), and never starts a server held stopped by `make db-stop` (`stop_server(...,
hold=True)`, recorded in `<pgdata>/.stopped`) until `make db-start`.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import os
import pwd
import shlex
import shutil
import stat
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)

LOCK_FILE = ".server.lock"
LOG_FILE = "log"
# initdb writes into a folder of its own, renamed once initdb has finished; PG_VERSION moves into
# the data folder last, so its presence there means a complete cluster, and an initdb killed
# half-way leaves only a folder that the next start deletes and redoes.
INITDB_PARTIAL = ".initdb.partial"
INITDB_DONE = ".initdb.done"
# Present while the server is held stopped by `make db-stop`; `make db-start` removes it.
HELD_STOPPED = ".stopped"
# PostgreSQL refuses to run as root; pgserver's convention, kept for existing data folders, is a
# system user of this name.
SYSTEM_USER = "pgserver"
SOCKET_NAME = ".s.PGSQL.5432"
SOCKET_PATH_MAX = 103  # bytes in a Unix socket's path, NUL excluded (sun_path is 104 on macOS)
TIMEOUT = 120.0  # seconds: for the lock, for initdb, for the server to be ready or stopped
BOGUS_PID_FILE_GRACE = 5.0  # seconds an unreadable postmaster.pid may take to be written


class EmbeddedServerError(psycopg.OperationalError):
    """The embedded server could not be started or stopped; the message says what to do."""


class ServerHeldStopped(EmbeddedServerError):
    """`make db-stop` stopped the server: nothing but `make db-start` starts it again."""


class NotCreated(EmbeddedServerError):
    """The data folder or the database does not exist, and this process may not create it."""


@dataclass(frozen=True)
class ServerAddress:
    socket_dir: str
    port: int


@dataclass(frozen=True)
class ServerStatus:
    pgdata: Path
    state: str  # "ready", "starting", "stopping", "stopped", "held stopped" or "not initialised"
    pid: int | None  # the postmaster's, while one runs
    address: ServerAddress | None

    @property
    def log(self) -> Path:
        return self.pgdata / LOG_FILE


@dataclass(frozen=True)
class _Postmaster:
    pid: int | None  # None while postmaster.pid is being written
    state: str
    address: ServerAddress | None


_started: dict[tuple[Path, str], ServerAddress] = {}
_process_lock = threading.Lock()


def ensure_server(pgdata: Path, database: str, *, initialise: bool = False) -> ServerAddress:
    """Return the address of the server in `pgdata`: join it, or start it again if it stopped by
    accident. With `initialise`, create the data folder and `database` if they are missing;
    without, say that `make migrate` creates them (NotCreated). A server held stopped by `make
    db-stop` is not started (ServerHeldStopped).

    The server outlives this process: every process of the project shares it. The address is
    remembered until a connection to it fails (`forget_server`).
    """
    key = (pgdata.resolve(), database)
    with _process_lock:
        if key not in _started:
            _started[key] = _open(pgdata, database, explicit=False, initialise=initialise)
        return _started[key]


def forget_server(pgdata: Path) -> None:
    """Look the server of `pgdata` up again at the next `ensure_server` (its connection failed:
    it may have stopped, or restarted with another socket folder)."""
    pgdata = pgdata.resolve()
    with _process_lock:
        for key in [key for key in _started if key[0] == pgdata]:
            del _started[key]


def start_server(pgdata: Path, database: str | None = None) -> ServerAddress:
    """`make db-start`: start the server in `pgdata` (initialising the folder if it is new), or
    join the one that runs there, ending a hold of `make db-stop`; then create `database` if it
    is given and missing."""
    return _open(pgdata, database, explicit=True, initialise=True)


def _open(pgdata: Path, database: str | None, *, explicit: bool, initialise: bool) -> ServerAddress:
    pgdata = pgdata.resolve()
    if not initialise and not (pgdata / "PG_VERSION").exists():
        raise NotCreated(
            f"there is no embedded PostgreSQL data folder in {pgdata} yet: `make migrate` creates"
            " it (DATABASE_URL unset)"
        )
    deadline = time.monotonic() + TIMEOUT
    with _start_lock(pgdata) as lock_fd:
        if explicit:
            (pgdata / HELD_STOPPED).unlink(missing_ok=True)
        while True:
            address = _running_address(pgdata)
            if address is None:
                if (pgdata / HELD_STOPPED).exists():
                    raise ServerHeldStopped(
                        f"the embedded PostgreSQL server in {pgdata} was stopped with `make"
                        " db-stop`: `make db-start` starts it again"
                    )
                address = _start(pgdata, lock_fd)
            _refuse_lost_socket(pgdata, address)
            try:
                _create_database(address, database or "postgres", create=initialise)
                return address
            except NotCreated:
                raise
            except psycopg.OperationalError:
                # The server died right after it was found, or it is "ready" yet refuses
                # connections while it recovers from a crashed process: look again.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def stop_server(pgdata: Path, *, hold: bool = False) -> bool:
    """Stop the server in `pgdata` (fast shutdown: open sessions are ended), if one runs there;
    say whether one did. With `hold` (`make db-stop`) it stays stopped until `start_server`;
    without, a later `ensure_server` of the folder starts it again (a restart)."""
    pgdata = pgdata.resolve()
    forget_server(pgdata)
    if not (pgdata / "PG_VERSION").exists():
        return False
    with _start_lock(pgdata):
        if hold:
            # Under the lock, before the stop: no process can start it in between.
            (pgdata / HELD_STOPPED).write_text(
                "stopped with `make db-stop`; `make db-start` starts it again\n"
            )
        postmaster = _postmaster(pgdata)
        if postmaster is None:
            return False
        returncode, output = _run(
            [
                str(bin_path() / "pg_ctl"),
                "-D",
                str(pgdata),
                "-m",
                "fast",
                "-w",
                "-t",
                str(int(TIMEOUT)),
                "stop",
            ],
            pgdata,
        )
        if returncode != 0:
            raise EmbeddedServerError(
                f"could not stop the embedded PostgreSQL server in {pgdata}: {_last_line(output)}."
                f" Its log is {pgdata / LOG_FILE}."
            )
        if postmaster.address is not None:
            _remove_socket_dir(pgdata, Path(postmaster.address.socket_dir))
    return True


def server_status(pgdata: Path) -> ServerStatus:
    """What runs in `pgdata`, read from its `postmaster.pid` (without waiting for the lock)."""
    pgdata = pgdata.resolve()
    if not (pgdata / "PG_VERSION").exists():
        return ServerStatus(pgdata, "not initialised", None, None)
    postmaster = _postmaster(pgdata)
    if postmaster is None:
        state = "held stopped" if (pgdata / HELD_STOPPED).exists() else "stopped"
        return ServerStatus(pgdata, state, None, None)
    return ServerStatus(pgdata, postmaster.state, postmaster.pid, postmaster.address)


def server_answers(address: ServerAddress) -> str | None:
    """None when the server at `address` answers a query; else why not, in one line."""
    try:
        with psycopg.connect(
            host=address.socket_dir,
            port=address.port,
            user="postgres",
            dbname="postgres",
            connect_timeout=5,
        ) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return _last_line(str(exc)) or type(exc).__name__
    return None


def bin_path() -> Path:
    """The folder of pgserver's PostgreSQL binaries, found without importing pgserver (whose
    import warns without XDG_RUNTIME_DIR and builds a lock of its own)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        # pgserver is a development extra (it bundles its own PostgreSQL); production sets
        # DATABASE_URL.
        raise EmbeddedServerError(
            "DATABASE_URL is not set, so the embedded PostgreSQL server would start, but its "
            "package (pgserver) is not installed. For development: pip install -e '.[embedded]' "
            "(or make install). In production: set DATABASE_URL to your server."
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


# --- Under the lock ----------------------------------------------------------------------------


@contextlib.contextmanager
def _start_lock(pgdata: Path) -> Iterator[int]:
    if not pgdata.parent.is_dir():
        raise EmbeddedServerError(f"cannot create {pgdata}: {pgdata.parent} is not a folder")
    with contextlib.suppress(FileExistsError):
        pgdata.mkdir(mode=0o700)
    deadline = time.monotonic() + TIMEOUT
    with open(pgdata / LOCK_FILE, "a+") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    lock.seek(0)
                    holder = lock.read().strip() or "another process"
                    raise EmbeddedServerError(
                        f"the embedded PostgreSQL server in {pgdata} has been starting or stopping"
                        f" for {TIMEOUT:.0f} s ({holder} holds {pgdata / LOCK_FILE}); its log is "
                        f"{pgdata / LOG_FILE}. See the README's troubleshooting."
                    ) from None
                time.sleep(0.05)
        try:
            lock.truncate(0)
            lock.write(f"pid {os.getpid()}\n")
            lock.flush()
            yield lock.fileno()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _running_address(pgdata: Path) -> ServerAddress | None:
    """The address of the server running in `pgdata` once it is ready, or None if none runs.

    A server still starting (its starter was killed after launching it) is waited for; an
    unreadable `postmaster.pid` that stays so is a leftover, and is removed.
    """
    deadline = time.monotonic() + TIMEOUT
    unreadable_since: float | None = None
    while True:
        postmaster = _postmaster(pgdata)
        if postmaster is None:
            return None
        if postmaster.state == "ready" and postmaster.address is not None:
            return postmaster.address
        now = time.monotonic()
        if postmaster.pid is None:
            unreadable_since = unreadable_since or now
            if now - unreadable_since > BOGUS_PID_FILE_GRACE:
                logger.warning("removing the unreadable %s", pgdata / "postmaster.pid")
                (pgdata / "postmaster.pid").unlink(missing_ok=True)
                return None
        if now > deadline:
            raise _start_failed(
                pgdata, f"its server (pid {postmaster.pid}) is still {postmaster.state}"
            )
        time.sleep(0.1)


def _start(pgdata: Path, lock_fd: int) -> ServerAddress:
    if os.geteuid() == 0:
        _let_system_user_in(pgdata)
    if not (pgdata / "PG_VERSION").exists():
        _initdb(pgdata, lock_fd)
    pid = _pid_in_file(pgdata)
    if pid is not None and _alive(pid) and not _runs_in(pid, pgdata):
        # A restarted container reuses pids: PostgreSQL would refuse to start while the pid of
        # its lock file belongs to a live process (a dead pid it overwrites by itself).
        (pgdata / "postmaster.pid").unlink()
    socket_dir = _socket_dir(pgdata)
    # A postmaster killed while it started may leave its socket's lock file empty, which
    # PostgreSQL refuses ("lock file … is empty"). No server runs here (no postmaster.pid, and
    # this process holds the start lock), so such a file is a leftover.
    socket_lock = socket_dir / f"{SOCKET_NAME}.lock"
    with contextlib.suppress(FileNotFoundError):
        if socket_lock.stat().st_size == 0:
            logger.warning("removing the empty %s", socket_lock)
            socket_lock.unlink()
    log = pgdata / LOG_FILE
    log_start = log.stat().st_size if log.exists() else 0
    logger.info("starting the embedded PostgreSQL server in %s", pgdata)
    started = time.monotonic()
    returncode, output = _run(
        [
            str(bin_path() / "pg_ctl"),
            "-D",
            str(pgdata),
            "-w",
            "-t",
            str(int(TIMEOUT)),
            "-l",
            str(log),
            "-o",
            f"-h '' -k {shlex.quote(str(socket_dir))}",
            "start",
        ],
        pgdata,
    )
    # A postmaster launched by a starter that was killed may have won the race: join it.
    address = _running_address(pgdata)
    if address is None:
        raise _start_failed(pgdata, _why_not_started(log, log_start, output, returncode))
    logger.info("embedded PostgreSQL ready in %dms", (time.monotonic() - started) * 1000)
    return address


def _initdb(pgdata: Path, lock_fd: int) -> None:
    partial, done = pgdata / INITDB_PARTIAL, pgdata / INITDB_DONE
    if partial.exists():
        logger.warning("an earlier initdb in %s was interrupted: running it again", pgdata)
        shutil.rmtree(partial)
    if not done.exists():
        logger.info("initialising the embedded PostgreSQL data folder %s", pgdata)
        returncode, output = _run(
            [
                str(bin_path() / "initdb"),
                "-D",
                str(partial),
                "-U",
                "postgres",
                "--auth=trust",
                "--auth-local=trust",
                "--encoding=UTF8",
            ],
            pgdata,
            # initdb keeps the lock even if this process is killed: no one else touches its
            # folder until it has exited.
            pass_fds=(lock_fd,),
        )
        if returncode != 0:
            raise EmbeddedServerError(
                f"initdb of the embedded PostgreSQL server in {pgdata} failed: "
                f"{_last_line(output)}. The next start runs it again."
            )
        partial.rename(done)
    for entry in sorted(done.iterdir(), key=lambda entry: entry.name == "PG_VERSION"):
        target = pgdata / entry.name
        # Without PG_VERSION the folder is no cluster: what is there is the debris of an initdb
        # interrupted before this layout existed.
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        entry.rename(target)
    done.rmdir()


def _create_database(address: ServerAddress, database: str, *, create: bool) -> None:
    with psycopg.connect(
        host=address.socket_dir,
        port=address.port,
        user="postgres",
        dbname="postgres",
        autocommit=True,
        connect_timeout=10,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if exists:
            return
        if not create:
            raise NotCreated(
                f"the embedded PostgreSQL server has no database {database!r} yet: `make migrate`"
                " creates it"
            )
        # Someone outside the lock (psql, createdb) may come first.
        with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


# --- Reading postmaster.pid --------------------------------------------------------------------


def _postmaster(pgdata: Path) -> _Postmaster | None:
    """The postmaster named by `pgdata/postmaster.pid`, if that process runs in `pgdata`.

    The file's lines: pid, data folder, start time, port, first socket folder, listen address,
    shared memory key, status (PostgreSQL's `pidfile.h`); it grows while the server starts.
    """
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    try:
        pid = int(lines[0])
    except (IndexError, ValueError):
        return _Postmaster(None, "starting", None)
    if not (_alive(pid) and _runs_in(pid, pgdata)):
        return None
    field = [line.strip() for line in lines] + [""] * 8
    address = ServerAddress(field[4], int(field[3])) if field[3] and field[4] else None
    return _Postmaster(pid, field[7] or "starting", address)


def _pid_in_file(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _runs_in(pid: int, pgdata: Path) -> bool:
    try:
        # A postmaster works in its data folder; a reused pid belongs to some other program.
        return Path(os.readlink(f"/proc/{pid}/cwd")) == pgdata
    except OSError:
        return True  # no /proc (macOS), or not ours to read: trust the pid


# --- Processes, users, folders -----------------------------------------------------------------


def _run(
    args: list[str], pgdata: Path, *, pass_fds: tuple[int, ...] = ()
) -> tuple[int | None, str]:
    """Run a PostgreSQL program (as the system user under root); its exit code and output.

    Output goes through a file, not a pipe: the server pg_ctl launches must not hold our pipe.
    A new session keeps the server out of the caller's terminal signals (Ctrl-C).
    """
    user: dict[str, Any] = {}
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SYSTEM_USER)
        user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    with tempfile.TemporaryFile("w+") as output:
        try:
            completed = subprocess.run(  # noqa: S603  (our own binaries and data folder)
                args,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=pgdata,
                timeout=TIMEOUT + 30,
                start_new_session=True,
                pass_fds=pass_fds,
                check=False,
                **user,
            )
            returncode: int | None = completed.returncode
        except subprocess.TimeoutExpired:
            returncode = None
        output.seek(0)
        return returncode, output.read()


def _let_system_user_in(pgdata: Path) -> None:
    """Under root: the system user exists, owns the data folder and can reach it and the
    binaries. No folder above them is opened to anyone: one that the system user cannot pass
    is named, with what to do."""
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(  # noqa: S603
            [  # noqa: S607  (useradd is wherever the system keeps it)
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(SYSTEM_USER)
    for path in (pgdata, bin_path()):
        for folder in reversed(path.parents):
            if not _passable_by(folder, entry):
                raise EmbeddedServerError(
                    f"the embedded PostgreSQL server runs as the system user {SYSTEM_USER!r}"
                    f" (PostgreSQL refuses root), which cannot pass {folder} on its way to"
                    f" {path}: let it through (`setfacl -m u:{SYSTEM_USER}:x {folder}`, or"
                    f" `chmod o+x {folder}`), keep the project elsewhere, or set DATABASE_URL"
                )
    fd = os.open(pgdata, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        if os.fstat(fd).st_uid != entry.pw_uid:
            os.fchown(fd, entry.pw_uid, entry.pw_gid)
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def _passable_by(folder: Path, user: pwd.struct_passwd) -> bool:
    """Whether `user` may pass through `folder` (its mode bits; an ACL may allow more, which
    `os.access` under root cannot tell, so a folder passable only by an ACL is also accepted when
    the ACL names the user)."""
    info = folder.stat()
    if info.st_uid == user.pw_uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == user.pw_gid:
        return bool(info.st_mode & stat.S_IXGRP)
    if info.st_mode & stat.S_IXOTH:
        return True
    with contextlib.suppress(OSError):
        acl = os.getxattr(folder, "system.posix_acl_access")
        return _acl_lets_through(acl, user.pw_uid)
    return False


def _acl_lets_through(acl: bytes, uid: int) -> bool:
    """A POSIX access ACL (Linux's xattr format: a 4-byte version, then 8-byte entries of tag,
    permissions and id) grants `uid` execute, within its mask."""
    named, mask = None, 0o7
    for offset in range(4, len(acl) - 7, 8):
        tag, permissions, ident = struct.unpack_from("<HHI", acl, offset)
        if tag == 0x02 and ident == uid:  # ACL_USER
            named = permissions
        elif tag == 0x10:  # ACL_MASK
            mask = permissions
    return named is not None and bool(named & mask & 0o1)


SOCKET_DIR_PREFIX = "matchday-postgres-"


def _socket_dir(pgdata: Path) -> Path:
    """The data folder when the socket's path fits there, else a new private folder (0700, of a
    name no one can guess, made where nothing stood) in the temporary folder: it is recorded in
    postmaster.pid, where every client finds it, and removed at the server's stop."""
    if len(os.fsencode(pgdata / SOCKET_NAME)) <= SOCKET_PATH_MAX:
        return pgdata
    folder = Path(tempfile.mkdtemp(prefix=SOCKET_DIR_PREFIX))
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SYSTEM_USER)
        # By descriptor, refusing a symlink: the name is never followed after mkdtemp made it.
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.fchown(fd, entry.pw_uid, entry.pw_gid)
        finally:
            os.close(fd)
    return folder


def _remove_socket_dir(pgdata: Path, socket_dir: Path) -> None:
    """After a stop: the private socket folder of that server, if it had one, goes too."""
    if socket_dir == pgdata or not socket_dir.name.startswith(SOCKET_DIR_PREFIX):
        return
    if socket_dir.parent != Path(tempfile.gettempdir()) or socket_dir.is_symlink():
        return
    with contextlib.suppress(OSError):
        socket_dir.rmdir()  # empty once the server is gone; anything else stays


def _refuse_lost_socket(pgdata: Path, address: ServerAddress) -> None:
    """A server that runs but whose socket file was deleted cannot be reached by anyone: say so
    at once instead of retrying for minutes."""
    socket = Path(address.socket_dir) / f".s.PGSQL.{address.port}"
    if not socket.exists():
        raise EmbeddedServerError(
            f"the embedded PostgreSQL server in {pgdata} runs but its socket {socket} is gone:"
            " `make db-stop` and `make db-start` restart it"
        )


def _why_not_started(log: Path, log_start: int, output: str, returncode: int | None) -> str:
    """The server's own complaint during this start (the log's last FATAL or PANIC line, else its
    last line), else pg_ctl's."""
    with contextlib.suppress(OSError), open(log, errors="replace") as lines:
        lines.seek(log_start)
        written = [line.strip() for line in lines if line.strip()]
        complaints = [line for line in written if "FATAL:" in line or "PANIC:" in line]
        if complaints or written:
            return (complaints or written)[-1]
    if returncode is None:
        return f"not ready after {TIMEOUT:.0f} s"
    pg_ctl = [line for line in output.splitlines() if line.startswith("pg_ctl:")]
    return pg_ctl[-1] if pg_ctl else f"pg_ctl exited with {returncode}"


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _start_failed(pgdata: Path, reason: str) -> EmbeddedServerError:
    log = pgdata / LOG_FILE
    return EmbeddedServerError(
        f"the embedded PostgreSQL server in {pgdata} did not start: {reason}. Its log is {log}. "
        "`make db-status` shows what runs there; if the folder holds nothing you need (its first "
        "start was interrupted), `make clean-db` deletes it and the next command creates a fresh "
        "one. See the README's troubleshooting."
    )
