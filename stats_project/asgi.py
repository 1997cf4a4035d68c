from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from stats_project.startup import refuse_in_one_line

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stats_project.settings")

with refuse_in_one_line():
    application = get_asgi_application()
