"""Who may write, and how often one client may ask: FastAPI dependencies built from settings.

Writes (POST/DELETE /v1/articles) need ``Authorization: Bearer <ARTICLE_QA_API_KEY>`` when a key is
set; without one they are accepted only from loopback, so a fresh install is never writable from
the network. Asks are limited per client address (uvicorn replaces it with X-Forwarded-For when the
request comes through a trusted proxy, so readers behind one proxy are still told apart). Pages
fetched because a question named an article by a URL not stored yet have limits of their own, per
client and overall (``check_fetch``).

The counts live in this process by default, or in Redis (``ARTICLE_QA_RATE_LIMIT_STORAGE``), where
every worker and replica shares them. When Redis cannot be reached, asks are served without a limit
(fail open: a broken limiter must not take the product down); the log says so once per outage,
``/metrics`` counts every ask served that way, and Redis is tried again after ``RETRY_AFTER_S``.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.exceptions import HTTPException

from service.settings import Settings

logger = logging.getLogger(__name__)

# A Redis that does not answer within this long counts as down: an ask waits at most this.
REDIS_TIMEOUT_S = 0.25
# After a failure, asks skip Redis (unlimited) for this long before it is tried again.
RETRY_AFTER_S = 2.0
# Pages fetched on demand (a question by the URL of an article not stored yet, from a host in
# ARTICLE_QA_FETCH_ALLOWED_HOSTS): each costs a fetch of up to 15 s and an ingest, so far fewer
# than asks. A reader opens at most a few new articles a minute, and a publisher publishes
# fewer than 60 a minute; past that it is someone walking the site's URLs through this server.
FETCHES_PER_CLIENT = parse("10/minute")
FETCHES_OVERALL = parse("60/minute")  # per process, or per fleet with Redis


def is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class Guard:
    """The write check and the ask rate limiter of one app (the limiter's counts live here)."""

    def __init__(self, settings: Settings, on_storage_error: Callable[[], None] = lambda: None):
        key = settings.api_key.get_secret_value() if settings.api_key else None
        self._key = key.encode() if key else None
        self._limit: RateLimitItem | None = (
            parse(settings.ask_rate_limit) if settings.ask_rate_limit else None
        )
        self._limit_loopback = settings.rate_limit_loopback
        uri = settings.rate_limit_storage
        self.storage_backend = uri.split("://", 1)[0]
        options: dict[str, Any] = {"wrap_exceptions": True}
        if self.storage_backend != "memory":
            options |= {
                "socket_timeout": REDIS_TIMEOUT_S,
                "socket_connect_timeout": REDIS_TIMEOUT_S,
            }
        self._storage = storage_from_string(uri, **options)
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        self._on_storage_error = on_storage_error
        self._down_until = 0.0  # monotonic time before which Redis is not tried
        self._down = False
        self._state_lock = threading.Lock()

    @property
    def writes_need_key(self) -> bool:
        return self._key is not None

    def check_writer(self, request: Request) -> None:
        """401 without credentials, 403 with the wrong key or, keyless, from off the machine."""
        if self._key is None:
            if not is_loopback(request):
                raise HTTPException(
                    403,
                    "writes are accepted only from this machine; set ARTICLE_QA_API_KEY on the "
                    "server to allow them from elsewhere with a bearer token",
                )
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(
                401,
                "this write needs an 'Authorization: Bearer <key>' header",
                headers={"WWW-Authenticate": "Bearer"},
            )
        # compare_digest: the time taken does not reveal how much of the key matched.
        if not hmac.compare_digest(token.strip().encode(), self._key):
            raise HTTPException(403, "the bearer token is not the API key of this server")

    def _exempt(self, request: Request) -> bool:
        return is_loopback(request) and not self._limit_loopback

    def check_rate(self, request: Request) -> None:
        """429 with Retry-After once a client has used up its asks for the current window."""
        if self._limit is None or self._exempt(request):
            return
        self._spend(self._limit, (_client(request),), "too many questions from this address")

    def check_fetch(self, request: Request) -> None:
        """429 with Retry-After past FETCHES_PER_CLIENT pages fetched on demand for one client
        (loopback exempt, as for asks) or FETCHES_OVERALL for everyone together, which bounds
        what many addresses can make the server fetch. A client over its own limit spends
        nothing of the overall one."""
        if not self._exempt(request):
            self._spend(
                FETCHES_PER_CLIENT,
                ("fetch", _client(request)),
                "too many pages not stored yet asked about from this address",
            )
        self._spend(FETCHES_OVERALL, ("fetch",), "too many pages not stored yet asked about")

    def _spend(self, limit: RateLimitItem, key: tuple[str, ...], refusal: str) -> None:
        """Count one hit on ``limit`` for ``key``; 429 when it is used up for this window. The
        key of a client's asks is its address alone; others start with a name of their own."""
        if self._down and time.monotonic() < self._down_until:
            self._on_storage_error()
            return
        try:
            if self._limiter.hit(limit, *key):
                self._storage_answered()
                return
            reset = self._limiter.get_window_stats(limit, *key).reset_time
        except StorageError as exc:
            self._storage_failed(exc)
            return
        self._storage_answered()
        retry_after = max(1, math.ceil(reset - time.time()))
        raise HTTPException(
            429,
            f"{refusal} (limit {limit}); retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )

    def _storage_failed(self, exc: StorageError) -> None:
        self._on_storage_error()
        with self._state_lock:
            first, self._down = not self._down, True
            self._down_until = time.monotonic() + RETRY_AFTER_S
        if first:
            logger.error(
                "rate-limit storage %s is unreachable (%s): asks are served without a limit "
                "until it answers again",
                self.storage_backend,
                exc,
            )

    def _storage_answered(self) -> None:
        if self._down:
            with self._state_lock:
                recovered, self._down = self._down, False
            if recovered:
                logger.warning("rate-limit storage %s answers again", self.storage_backend)

    def storage_ok(self) -> bool:
        """Whether the rate-limit storage answers now (for /readyz; memory always does)."""
        try:
            return bool(self._storage.check())
        except StorageError:
            return False


async def get_guard(request: Request) -> Guard:
    guard: Guard = request.app.state.guard
    return guard


GuardDep = Annotated[Guard, Depends(get_guard)]

# The dependencies are async (and never block): FastAPI would run plain ``def`` ones in the thread
# pool, a round trip per dependency per request that cost more than answering the question.


async def require_writer(request: Request, guard: GuardDep) -> None:
    guard.check_writer(request)


async def limit_asks(request: Request, guard: GuardDep) -> None:
    guard.check_rate(request)
