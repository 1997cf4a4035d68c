"""A settings refusal at start-up, in one line (the WSGI and ASGI entry points; manage.py has
its own)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ImproperlyConfigured

# gunicorn's "App failed to load": it stops instead of starting the worker again and again.
APP_LOAD_ERROR = 4


@contextmanager
def refuse_in_one_line() -> Iterator[None]:
    """Setting Django up inside this block, an ImproperlyConfigured (stats/security_checks.py,
    a malformed variable) prints its one line to stderr and exits, instead of a traceback in
    each worker."""
    try:
        yield
    except ImproperlyConfigured as exc:
        print(f"ImproperlyConfigured: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(APP_LOAD_ERROR) from None
