"""Every worker rescues the jobs of dead workers, on its own heartbeat, and waits for a database
that is not ready instead of crashing.

A worker SIGKILLed mid-job leaves it `doing`. Procrastinate finds such jobs by heartbeat but
leaves putting them back to us; doing it in a periodic job costs a job row per check (8,640 a
day at every 10 s), and doing it in the minute's sweep made a recovery take 82 s. So each worker,
right after its own beat (every STATS_WORKER_HEARTBEAT_INTERVAL), puts back the jobs of workers
that have not beaten for STATS_STALLED_WORKER_TIMEOUT, and wakes the workers to take them. A live
worker beats from its event loop while its jobs run in threads, so one busy for minutes in a long
scoring keeps beating, and keeps its job.

Installed by `PROCRASTINATE_ON_APP_READY`; only a worker beats, so the web is unaffected.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connections
from procrastinate import App, BaseConnector, manager

from stats import services
from stats.readiness import database_problem, problem_kind

logger = logging.getLogger(__name__)

READINESS_CHECK_SECONDS = 5.0


class RescuingJobManager(manager.JobManager):
    """Procrastinate's job manager, plus the rescue after each of this worker's heartbeats and
    a wait for the database at the worker's start."""

    def __init__(self, connector: BaseConnector) -> None:
        super().__init__(connector)
        # Django's connections belong to a thread: the rescue keeps one thread, and its one.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stalled-rescue")
        self._rescue: asyncio.Task[None] | None = None

    async def prune_stalled_workers(self, seconds_since_heartbeat: float) -> list[int]:
        # The worker's first query: a database that is not migrated (or not there) would fail
        # it with a traceback, and the worker would exit and be restarted in a loop.
        await self._wait_until_ready()
        return await super().prune_stalled_workers(seconds_since_heartbeat)

    async def update_heartbeat(self, worker_id: int) -> None:
        await super().update_heartbeat(worker_id)
        # Not awaited: a slow rescue must never delay this worker's next beat.
        if self._rescue is None or self._rescue.done():
            self._rescue = asyncio.create_task(self._rescue_stalled_jobs())

    async def _rescue_stalled_jobs(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, _rescue_in_thread)
        except Exception as exc:  # the next beat tries again; the worker goes on
            logger.warning("stalled-job rescue failed, tried again at the next beat: %s", exc)

    async def _wait_until_ready(self) -> None:
        loop = asyncio.get_running_loop()
        said = None
        while problem := await loop.run_in_executor(self._executor, _problem_in_thread):
            if said is None or problem_kind(problem) != problem_kind(said):
                logger.warning(
                    "worker not started: %s; checking again every %.0f s",
                    problem,
                    READINESS_CHECK_SECONDS,
                )
                said = problem
            await asyncio.sleep(READINESS_CHECK_SECONDS)
        if said is not None:
            logger.warning("the database is ready: the worker starts")


def _rescue_in_thread() -> None:
    close_old_connections()
    try:
        services.stalled_jobs_rescue()
    except Exception:
        connections.close_all()  # a connection the database dropped is not reused
        raise


def _problem_in_thread() -> str | None:
    try:
        return database_problem()
    finally:
        connections.close_all()


def on_app_ready(app: App) -> None:
    """`PROCRASTINATE_ON_APP_READY`: the app's job manager becomes the rescuing one."""
    app.job_manager = RescuingJobManager(app.connector)
