from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from stats_project.startup import refuse_in_one_line

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stats_project.settings")

with refuse_in_one_line():
    application = get_wsgi_application()
