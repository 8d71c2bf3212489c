"""Bearer-token check for scoring, feedback and admin routes (health routes are BentoML's and stay open).

Without a configured token the service is for local development: it binds to 127.0.0.1 by default
and, should it be bound elsewhere anyway, answers only clients on the loopback interface.
"""

from __future__ import annotations

import hmac
import ipaddress

from serving.errors import ApiError


def is_loopback(host: str | None) -> bool:
    """Whether a client address is this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def authorize(token: str | None, supplied: str | None, client_host: str | None) -> None:
    """Raise 401 for a missing or wrong bearer token, or 403 for a remote client when no token is set;
    the comparison takes the same time wherever the tokens differ."""
    if token is None:
        if not is_loopback(client_host):
            raise ApiError.single(
                403, "", "no API token is configured, so only local clients are served; set LEADSCORE_API_TOKEN"
            )
        return
    if supplied is None or not hmac.compare_digest(supplied.encode(), token.encode()):
        raise ApiError.single(
            401, "Authorization", "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
