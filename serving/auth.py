"""Who may call the service: bearer tokens for scoring, feedback and admin routes, a per-client limit on
wrong guesses, and the `Host` check that stops DNS rebinding (health routes are BentoML's and stay open).

Without a configured token the service is for local development: it binds to 127.0.0.1 by default and,
should it be bound elsewhere anyway, answers only clients on the loopback interface, and only requests
whose `Host` names this machine (a web page on an attacker's domain that resolves to 127.0.0.1 still
sends the attacker's `Host`). `/admin/*` takes its own token, LEADSCORE_ADMIN_TOKEN; without one it
answers local clients only, so the CRM's scoring token cannot reload models.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from leadscore.serving.errors import ApiError
from leadscore.serving.settings import host_name

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
MAX_FAILURES = 10
"""Wrong tokens a client may send per `FAILURE_WINDOW` seconds before it gets 429 (even for a right one)."""
FAILURE_WINDOW = 60.0
MAX_TRACKED_CLIENTS = 10_000
"""Clients remembered by the limiter; the least recently failing are forgotten first (bounded memory)."""
SESSION_HOURS = 12.0
"""A review-page login lasts this long (a working day), then the page asks for the token again."""
MAX_SESSIONS = 10_000
"""Live sessions kept per worker; the oldest are signed out first (bounded memory)."""


def is_loopback(host: str | None) -> bool:
    """Whether a client address (or a `Host` name) is this machine."""
    if host in LOOPBACK_NAMES or (host or "").endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def check_host(header: str | None, allowed: frozenset[str], token_configured: bool) -> None:
    """Raise 421 for a `Host` this service does not answer to: without a token only loopback names and
    addresses (plus LEADSCORE_ALLOWED_HOSTS); with a token, any host unless LEADSCORE_ALLOWED_HOSTS is set."""
    if token_configured and not allowed:
        return
    name = host_name(header or "")
    if is_loopback(name) or name in allowed:
        return
    raise ApiError.single(
        421,
        "Host",
        "this service does not answer to that host name; add it to LEADSCORE_ALLOWED_HOSTS"
        + ("" if token_configured else " or set LEADSCORE_API_TOKEN"),
    )


class FailureLimiter:
    """Counts wrong tokens per client in a sliding window; a client over the limit is refused with 429 and
    `Retry-After` until its oldest counted failure leaves the window, whatever token it sends.

    Per worker process (each BentoML worker keeps its own counts), keyed by client address: behind a
    reverse proxy every client shares the proxy's address, so one guesser then slows everyone down.
    """

    def __init__(
        self, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.get(client, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def check(self, client: str | None) -> None:
        """Raise 429 if `client` has used up its wrong guesses."""
        now = self.clock()
        with self._lock:
            failures = self._recent(client or "", now)
            if len(failures) < self.limit:
                return
            wait = math.ceil(failures[0] + self.window - now)
        raise ApiError.single(
            429,
            "Authorization",
            f"too many wrong tokens from this client; try again in {wait} s",
            headers={"Retry-After": str(max(1, wait))},
        )

    def failed(self, client: str | None) -> None:
        """Count one wrong token."""
        now = self.clock()
        with self._lock:
            failures = self._recent(client or "", now)
            failures.append(now)
            self._failures[client or ""] = failures
            self._failures.move_to_end(client or "")
            while len(self._failures) > MAX_TRACKED_CLIENTS:
                self._failures.popitem(last=False)


class Sessions:
    """Review-page logins of this worker: a random id per login, kept in memory until logout, expiry or
    restart. The cookie is only that id, so it reveals nothing of the token, and logging out revokes it
    (a cookie derived from the token alone would stay valid for as long as the token does)."""

    def __init__(
        self, hours: float = SESSION_HOURS, limit: int = MAX_SESSIONS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = hours * 3600.0
        self.limit = limit
        self.clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def start(self) -> str:
        """A new session; returns the cookie value."""
        session = secrets.token_urlsafe(32)
        with self._lock:
            self._expiry[session] = self.clock() + self.seconds
            while len(self._expiry) > self.limit:
                self._expiry.popitem(last=False)
        return session

    def valid(self, cookie: str | None) -> bool:
        """Whether `cookie` is a live session of this worker (an expired one is forgotten)."""
        if not cookie:
            return False
        with self._lock:
            expiry = self._expiry.get(cookie)
            if expiry is not None and expiry <= self.clock():
                del self._expiry[cookie]
                expiry = None
        return expiry is not None

    def end(self, cookie: str | None) -> None:
        """Log out: the cookie is refused from now on, even if a copy of it is replayed."""
        with self._lock:
            self._expiry.pop(cookie or "", None)


def token_matches(supplied: str | None, token: str) -> bool:
    """Constant-time comparison (the time taken does not depend on where the tokens differ)."""
    return supplied is not None and hmac.compare_digest(supplied.encode(), token.encode())


def authorize(
    token: str | None, supplied: str | None, client_host: str | None, limiter: FailureLimiter | None = None
) -> None:
    """Raise 401 for a missing or wrong bearer token (429 once the client has guessed too often), or 403 for
    a remote client when no token is set."""
    if token is None:
        if not is_loopback(client_host):
            raise ApiError.single(
                403, "", "no API token is configured, so only local clients are served; set LEADSCORE_API_TOKEN"
            )
        return
    if limiter is not None:
        limiter.check(client_host)
    if not token_matches(supplied, token):
        if limiter is not None:
            limiter.failed(client_host)
        raise ApiError.single(
            401, "Authorization", "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


def authorize_admin(
    api_token: str | None,
    admin_token: str | None,
    supplied: str | None,
    client_host: str | None,
    limiter: FailureLimiter | None = None,
) -> None:
    """`/admin/*`: the admin token when one is set; otherwise local clients only (with the API token, if
    one is set, as for every other route)."""
    if admin_token is not None:
        authorize(admin_token, supplied, client_host, limiter)
        return
    authorize(api_token, supplied, client_host, limiter)
    if not is_loopback(client_host):
        raise ApiError.single(
            403, "", "no admin token is configured, so /admin answers local clients only; set LEADSCORE_ADMIN_TOKEN"
        )
