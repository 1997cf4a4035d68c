"""`python -m stats_project.embedded_postgres status|start|stop [--pgdata FOLDER]`.

The embedded server's verbs (`make db-status`, `make db-start`, `make db-stop`): they keep its
data. `stop` holds the server stopped until `start`: no other process starts it meanwhile.
`status` connects to it and exits 0 when it answers, 3 when it does not, as `pg_ctl status` does.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from stats_project.embedded_postgres import EMBEDDED_DATABASE_NAME
from stats_project.embedded_postgres.server import (
    EmbeddedServerError,
    ServerStatus,
    bin_path,
    server_answers,
    server_status,
    start_server,
    stop_server,
)

DEFAULT_PGDATA = Path(__file__).resolve().parents[2] / ".pgdata"
NOT_RUNNING = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stats_project.embedded_postgres",
        description="Check, start or stop the embedded PostgreSQL server; its data is kept.",
    )
    parser.add_argument("verb", choices=["status", "start", "stop"])
    parser.add_argument("--pgdata", type=Path, default=DEFAULT_PGDATA, help="its data folder")
    args = parser.parse_args(argv)
    pgdata: Path = args.pgdata
    try:
        if args.verb == "start":
            start_server(pgdata, EMBEDDED_DATABASE_NAME)
        elif args.verb == "stop":
            stopped = stop_server(pgdata, hold=True)
            print(
                f"{pgdata.resolve()}: {'stopped' if stopped else 'was not running'};"
                " no process starts it again until `make db-start`"
            )
            return 0
    except EmbeddedServerError as exc:
        print(exc, file=sys.stderr)
        return 1
    status = server_status(pgdata)
    # The files say what should run; only a connection says that it answers.
    problem = server_answers(status.address) if status.address is not None else None
    print(describe(status, problem))
    return 0 if status.state == "ready" and problem is None else NOT_RUNNING


def describe(status: ServerStatus, problem: str | None = None) -> str:
    state = f"not answering ({problem})" if problem else status.state
    if status.state == "held stopped":
        state = "stopped by `make db-stop`; `make db-start` starts it"
    lines = [f"embedded PostgreSQL in {status.pgdata}: {state}"]
    if status.pid is not None:
        lines[0] += f" (pid {status.pid})"
    if status.address is not None:
        psql = bin_path() / "psql"
        lines += [
            f"  socket folder: {status.address.socket_dir}, port {status.address.port}",
            f"  psql: {psql} -h {status.address.socket_dir} -p {status.address.port}"
            f" -U postgres {EMBEDDED_DATABASE_NAME}",
        ]
    lines.append(f"  log: {status.log}")
    if os.environ.get("DATABASE_URL"):
        lines.append("  DATABASE_URL is set: the project uses that server, not this one")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
