"""The layer rules of docs/architecture.md ("Layers"), as data, checked on every module of stats/;
and every `module.name` the architecture cites exists."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATS = ROOT / "stats"

# Lowest first: a module imports from its own entry here or from a lower layer, never sideways
# or up. An entry covers the module and everything under it.
LAYERS = [
    {
        "stats.exceptions",
        "stats.scoring",
        "stats.sql",
        "stats.retry",
        "stats.replica",
        "stats.http",
        "stats.readiness",
        "stats.worker_logs",
    },
    {
        "stats.models",
        "stats.csp",
        "stats.client_ip",
        "stats.login_throttle",
        "stats.security_checks",
        "stats.middleware",
    },
    {"stats.relations", "stats.jobs", "stats.job_errors", "stats.football_json"},
    {"stats.refresh"},
    {
        "stats.services",
        "stats.selectors",
        "stats.monitoring",
        "stats.audit",
        "stats.checks",
        "stats.groups",
    },
    {
        "stats.signals",
        "stats.results_feed",
        "stats.demo",
        "stats.processes",
        "stats.players",
        "stats.templatetags",
        "stats.rescue",
    },
    {"stats.tasks", "stats.views", "stats.admin", "stats.management"},
    {"stats.urls", "stats.apps"},
]
# These import nothing of stats but what is listed.
ONLY = {
    "stats.scoring": set(),  # the rules as a pure function
    # Not the queue; their SQL (stats/sql/boards/) by name.
    "stats.selectors": {"stats.models", "stats.relations", "stats.exceptions", "stats.sql"},
    "stats.tasks": {"stats.services", "stats.jobs", "stats.retry", "stats.job_errors"},
}
# Inside a task, of stats: services are called, and stats.jobs only gives names (never called).
TASKS_USE = {"services", "jobs"}
# Procrastinate's tables are read (its models imported, its tables named) only here.
PROCRASTINATE_READERS = {"stats.jobs", "stats.monitoring", "stats.admin.jobs"}
PROCRASTINATE_SQL = {"overlapping_job_runs.sql", "schema.sql"}  # and the frozen migrations
PROCRASTINATE = re.compile(r"procrastinate\.contrib\.django\.models|procrastinate_(jobs|events)")


def entry(module: str) -> tuple[int, str]:
    """The layer holding a module, and its entry there."""
    for layer, names in enumerate(LAYERS):
        for name in names:
            if module == name or module.startswith(f"{name}."):
                return layer, name
    raise AssertionError(f"{module} is in no layer of {__name__}.LAYERS")


def stats_modules() -> dict[str, ast.Module]:
    found: dict[str, ast.Module] = {}
    for path in sorted(STATS.rglob("*.py")):
        if "migrations" not in path.parts and path.parent != STATS.parent:
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = ast.parse(path.read_text(), str(path))
    return found


def imported(tree: ast.AST) -> dict[str, str]:
    """Every name a module binds by an import, and what it is (`from stats import jobs`: jobs is
    stats.jobs)."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.asname or alias.name: alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found |= {a.asname or a.name: f"{node.module}.{a.name}" for a in node.names}
    return found


def violations(modules: dict[str, ast.Module], sql: dict[str, str]) -> list[str]:
    found = []
    for module, tree in modules.items():
        layer, home = entry(module) if module != "stats" else (len(LAYERS), "stats")
        for target in sorted(set(imported(tree).values())):
            if target.startswith("stats.") and entry(target)[1] != home:
                if entry(target)[0] >= layer:
                    found.append(f"{module} imports {target}: layer {entry(target)[0]} >= {layer}")
                if module in ONLY and entry(target)[1] not in ONLY[module]:
                    found.append(f"{module} imports {target}: only {sorted(ONLY[module])}")
        texts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
        for text in [*imported(tree).values(), *texts]:
            if module not in PROCRASTINATE_READERS and PROCRASTINATE.search(str(text)):
                found.append(f"{module} reads Procrastinate's tables: {str(text)[:60]!r}")
    for name, text in sql.items():
        if Path(name).name not in PROCRASTINATE_SQL and PROCRASTINATE.search(text):
            found.append(f"stats/sql/{name} reads Procrastinate's tables")
    names = imported(modules["stats.tasks"])
    bodies = [  # the tasks' bodies, not their decorators
        (task.name, node)
        for task in modules["stats.tasks"].body
        if isinstance(task, ast.FunctionDef | ast.AsyncFunctionDef)
        for statement in task.body
        for node in ast.walk(statement)
    ]
    for task, node in bodies:
        if isinstance(node, ast.Name) and names.get(node.id, "").startswith("stats."):
            if node.id not in TASKS_USE:
                found.append(f"stats.tasks.{task} uses {node.id}")
        elif isinstance(node, ast.Call) and ast.unparse(node.func).startswith("jobs."):
            found.append(f"stats.tasks.{task} calls {ast.unparse(node.func)}")
    return found


def test_every_module_keeps_to_its_layer() -> None:
    sql = {
        str(path.relative_to(STATS / "sql")): path.read_text()
        for path in sorted((STATS / "sql").rglob("*.sql"))
        if "migrations" not in path.parts
    }
    found = violations(stats_modules(), sql)
    assert not found, "\n".join(["the rules of docs/architecture.md (Layers) are broken:", *found])


def test_the_architecture_cites_what_exists() -> None:
    """`module.name` in docs/architecture.md, for a module of stats/, names something it has."""
    cited = re.findall(r"`(\w+)\.(\w+)`", (ROOT / "docs" / "architecture.md").read_text())
    missing = [
        f"{module}.{name}"
        for module, name in cited
        if name not in {"py", "sql", "md"}
        and ((STATS / f"{module}.py").exists() or (STATS / module).is_dir())
        and not hasattr(importlib.import_module(f"stats.{module}"), name)
    ]
    assert missing == []


def test_a_broken_rule_is_reported() -> None:
    modules = stats_modules()
    planted = {
        "stats.selectors": "from stats.jobs import enqueue_stats_refresh",
        "stats.models.league": "from stats.services import stats_refresh",
        "stats.views.league": "from procrastinate.contrib.django.models import ProcrastinateJob",
    }
    for module, line in planted.items():
        modules[module].body.append(ast.parse(line).body[0])
    [task] = [
        f for f in modules["stats.tasks"].body if getattr(f, "name", "") == "calculate_points"
    ]
    assert isinstance(task, ast.FunctionDef)
    task.body.insert(0, ast.parse("jobs.enqueue_stats_refresh(delay_seconds=0)").body[0])
    assert violations(modules, {"refresh/x.sql": "SELECT 1 FROM procrastinate_jobs"}) == [
        "stats.models.league imports stats.services.stats_refresh: layer 4 >= 1",
        "stats.selectors imports stats.jobs.enqueue_stats_refresh: only "
        "['stats.exceptions', 'stats.models', 'stats.relations', 'stats.sql']",
        "stats.views.league reads Procrastinate's tables: "
        "'procrastinate.contrib.django.models.ProcrastinateJob'",
        "stats/sql/refresh/x.sql reads Procrastinate's tables",
        "stats.tasks.calculate_points calls jobs.enqueue_stats_refresh",
    ]
