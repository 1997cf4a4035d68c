"""Worker and web-server processes started from Python, the way `make worker` and `make web` run
them: the one harness behind `manage.py demo`, the tests that need real workers, and bench/.

It lives in the app, not in tests/, because a management command (the demo) uses it and tests/
is not shipped. It starts processes and waits for them; what a caller checks once they run (its
database, its figures) stays with the caller.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from stats import jobs

REPO_ROOT = Path(__file__).resolve().parent.parent

Process = subprocess.Popen[bytes]


def manage_py_start(arguments: tuple[str, ...], *, env: Mapping[str, str], log: Path) -> Process:
    """Start `manage.py <arguments>` in the repository, in this environment plus `env`, with its
    output (stdout and stderr) in the file `log`."""
    with log.open("wb") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(  # noqa: S603  (our manage.py, with arguments from our code)
            [sys.executable, "manage.py", *arguments],
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def worker_start(*, env: Mapping[str, str], log: Path) -> Process:
    """One `manage.py procrastinate worker`, with persistent connections as `make worker` and the
    systemd unit run it (the settings default to 0, for runserver) unless told otherwise."""
    conn_max_age = os.environ.get("CONN_MAX_AGE", "60")
    return manage_py_start(
        ("procrastinate", "worker"), env={"CONN_MAX_AGE": conn_max_age, **env}, log=log
    )


def web_start(port: int, *, env: Mapping[str, str], log: Path) -> Process:
    """`manage.py runserver` on 127.0.0.1:`port`, without the autoreloader."""
    return manage_py_start(("runserver", f"127.0.0.1:{port}", "--noreload"), env=env, log=log)


def processes_stop(processes: list[Process], *, timeout: float = 15) -> None:
    """SIGTERM (a worker's graceful stop: it finishes its current jobs), then SIGKILL whatever is
    still running after `timeout` seconds."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_until(
    condition: Callable[[], object], *, timeout: float, what: str, poll: float = 0.05
) -> None:
    """Poll `condition` until it is true; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_accepts(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class WorkerPool:
    """Worker processes with a common environment, each logging to its own file in `log_dir`
    (worker-0.log, worker-1.log, ...), stopped together."""

    def __init__(self, log_dir: Path, env: Mapping[str, str]) -> None:
        self.log_dir = log_dir
        self.env = dict(env)
        self.processes: list[Process] = []

    def spawn(self, **env: str) -> Process:
        """Start one more worker, not waiting for it."""
        log = self.log_dir / f"worker-{len(self.processes)}.log"
        process = worker_start(env={**self.env, **env}, log=log)
        self.processes.append(process)
        return process

    def start(self, count: int = 1, *, timeout: float = 30, **env: str) -> list[Process]:
        """Start `count` workers and wait until every live one has registered."""
        started = [self.spawn(**env) for _ in range(count)]
        wait_until(
            lambda: jobs.workers_registered() >= len(self.alive()),
            timeout=timeout,
            what=f"{count} worker(s) to register",
        )
        return started

    def alive(self) -> list[Process]:
        return [process for process in self.processes if process.poll() is None]

    def kill(self, process: Process) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self, *, timeout: float = 15) -> None:
        processes_stop(self.processes, timeout=timeout)

    def logs(self, tail: int = 4000) -> str:
        """The end of each log in `log_dir`, for a failure report."""
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}"
            for path in sorted(self.log_dir.glob("*.log"))
        )
