"""The scheduler's door: make a refresh due now, behind a bearer secret."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from stats.jobs import request_stats_refresh_now
from stats.views.params import error_response

logger = logging.getLogger(__name__)


@csrf_exempt  # called by a scheduler with a bearer secret, never by a browser session
@require_POST
@never_cache
def cron_update_stats(request: HttpRequest) -> JsonResponse:
    """POST /api/cron/update-stats: make a view refresh due now (bearer CRON_SECRET)."""
    secret = settings.CRON_SECRET
    if not secret:
        return error_response("CRON_SECRET is not set; the cron endpoint is disabled", 503)
    presented = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
    # Constant time: how much of a guess matched must not show in the answer's timing.
    if not hmac.compare_digest(presented, f"Bearer {secret}".encode()):
        return error_response("Unauthorized", 401)
    refresh = request_stats_refresh_now()
    logger.info("cron refresh request: %s, job %d", refresh.status, refresh.job_id)
    return JsonResponse(
        {
            "status": refresh.status,
            "job_id": refresh.job_id,
            "timestamp": timezone.now().isoformat(),
        }
    )
