"""Who may write, and how often one client may ask: FastAPI dependencies built from settings.

Writes (POST/DELETE /v1/articles) need ``Authorization: Bearer <ARTICLE_QA_API_KEY>`` when a key is
set; without one they are accepted only from loopback, so a fresh install is never writable from
the network. Asks are limited per client address (uvicorn replaces it with X-Forwarded-For when the
request comes through a trusted proxy, so readers behind one proxy are still told apart).
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import time
from typing import Annotated

from fastapi import Depends, Request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.exceptions import HTTPException

from service.settings import Settings


def is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


class Guard:
    """The write check and the ask rate limiter of one app (the limiter's counts live here)."""

    def __init__(self, settings: Settings) -> None:
        key = settings.api_key.get_secret_value() if settings.api_key else None
        self._key = key.encode() if key else None
        self._limit: RateLimitItem | None = (
            parse(settings.ask_rate_limit) if settings.ask_rate_limit else None
        )
        self._limit_loopback = settings.rate_limit_loopback
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

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

    def check_rate(self, request: Request) -> None:
        """429 with Retry-After once a client has used up its asks for the current window."""
        if self._limit is None or (is_loopback(request) and not self._limit_loopback):
            return
        client = request.client.host if request.client else "unknown"
        if self._limiter.hit(self._limit, client):
            return
        reset = self._limiter.get_window_stats(self._limit, client).reset_time
        retry_after = max(1, math.ceil(reset - time.time()))
        raise HTTPException(
            429,
            f"too many questions from this address (limit {self._limit}); retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


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
