"""The client, for throttling failed logins (django-axes' AXES_CLIENT_IP_CALLABLE)."""

from __future__ import annotations

import ipaddress

from django.http import HttpRequest

# Peers that can only be the proxy on this machine (gunicorn listens on loopback, docs/deploy/).
_LOOPBACK = frozenset({"127.0.0.1", "::1"})
# An IPv6 client is given a /64 (a home, a phone, a server): any address in it is the same client.
IPV6_CLIENT_PREFIX = 64


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as the throttle counts it: an IPv4 address, or the first address of
    an IPv6 /64 (`2001:db8:5:7::`).

    REMOTE_ADDR; from a loopback peer, the proxy's `X-Real-IP` when it sent one. Behind nginx
    every request comes from 127.0.0.1, so throttling by REMOTE_ADDR would let one attacker lock
    every user out. nginx sets `X-Real-IP $remote_addr`, replacing whatever the client sent; a
    header from any other peer is the client's own word and is ignored.
    """
    peer: str | None = request.META.get("REMOTE_ADDR")
    forwarded = str(request.META.get("HTTP_X_REAL_IP", "")).strip()
    if peer in _LOOPBACK and forwarded:
        # Not an address at all: a misconfigured proxy; count the proxy rather than fail.
        return counted_address(forwarded) or counted_address(peer)
    return counted_address(peer) if peer else peer


def counted_address(text: str) -> str | None:
    """`text` as the throttle counts it, or None when it is not an IP address."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # a zone (`%eth0`) is local detail
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False)
        return str(network.network_address)
    return str(address)
