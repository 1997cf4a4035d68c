"""The scheduler's door: make a refresh due now, behind a bearer secret."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from stats.http import allow_methods
from stats.jobs import request_stats_refresh_now
from stats.views.params import error_response, presents_bearer, unauthorized_response

logger = logging.getLogger(__name__)


@csrf_exempt  # called by a scheduler with a bearer secret, never by a browser session
@allow_methods("POST")
@never_cache
def cron_update_stats(request: HttpRequest) -> JsonResponse:
    """POST /api/cron/update-stats: make a view refresh due now (bearer CRON_SECRET)."""
    secret = settings.CRON_SECRET
    if not secret:
        return error_response("CRON_SECRET is not set; the cron endpoint is disabled", 503)
    if not presents_bearer(request, secret):
        return unauthorized_response()
    refresh = request_stats_refresh_now()
    logger.info("cron refresh request: %s, job %d", refresh.status, refresh.job_id)
    return JsonResponse(
        {
            "status": refresh.status,
            "job_id": refresh.job_id,
            "timestamp": timezone.now(),  # as every time of the API: milliseconds, "Z"
        }
    )
