"""The client's address, for throttling failed logins (django-axes' AXES_CLIENT_IP_CALLABLE)."""

from __future__ import annotations

from django.http import HttpRequest

# Peers that can only be the proxy on this machine (gunicorn listens on loopback, docs/deploy/).
_LOOPBACK = frozenset({"127.0.0.1", "::1"})


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR; from a loopback peer, the proxy's `X-Real-IP` when it sent one.

    Behind nginx every request comes from 127.0.0.1, so throttling by REMOTE_ADDR would let one
    attacker lock every user out. nginx sets `X-Real-IP $remote_addr`, replacing whatever the
    client sent; a header from any other peer is the client's own word and is ignored.
    """
    peer: str | None = request.META.get("REMOTE_ADDR")
    forwarded = str(request.META.get("HTTP_X_REAL_IP", "")).strip()
    if peer in _LOOPBACK and forwarded:
        return forwarded[:45]  # the longest textual IPv6 address
    return peer
