"""Fetch an article's page by URL, safely enough to offer on a public server.

A server that fetches any URL it is given can be made to read what only it can reach: its own
loopback services, the private network, a cloud's metadata address. So, unless
``ARTICLE_QA_FETCH_PRIVATE_HOSTS`` allows them:

- only http and https; no user name or password in the URL;
- the host is resolved here, and refused when any of its addresses is not a public one
  (loopback, private, link-local, shared, multicast, reserved, unspecified; IPv4 or IPv6, an
  IPv4 address inside an IPv6 one included), so ``localhost``, ``127.1``, ``0x7f000001`` and
  ``[::1]`` are refused like ``127.0.0.1``;
- the connection goes to the address that was checked (the request names the host in its
  Host header and TLS name), so DNS cannot answer differently a second time;
- every redirect is checked the same way, five at most;
- no proxy from the environment (it would resolve the host itself).

And, allowed or not: the body is read as it streams and refused past ``max_bytes``; the whole
fetch has a deadline (a page that stalls or drips fails within 15 s); only HTML, XHTML and
plain text are read; the charset comes from the header, then the page's own declaration, then
detection. Every refusal is a ``FetchError`` carrying the HTTP status the API answers with.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import charset_normalizer
import httpx

from index.library import Library
from index.retriever import IndexedArticle

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

MAX_BYTES = 5_000_000
MAX_REDIRECTS = 5
DEADLINE_S = 10.0  # the whole fetch; a read may then wait READ_TIMEOUT_S more: 15 s at most
READ_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 5.0
SCHEMES = ("http", "https")
TYPES = {"text/html": True, "application/xhtml+xml": True, "text/plain": False}  # html?
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; not "private" to Python
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # an IPv4 address in the last 32 bits
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_REDIRECTS = {301, 302, 303, 307, 308}


def _user_agent() -> str:
    try:
        release = version("article-qa")
    except PackageNotFoundError:  # run from a checkout that was not installed
        release = "dev"
    return f"article-qa/{release} (extractive question answering; fetches the page asked for)"


USER_AGENT = _user_agent()


class FetchError(Exception):
    """The page was not fetched; ``status`` is what the API answers: 422, a URL that is not
    fetched (scheme, password) or what it gave is not a page; 403, an address this server does
    not fetch from; 413, too large; 502, the site failed; 504, it was too slow."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


@dataclass(frozen=True, slots=True)
class Page:
    url: str  # as asked, normalised: what the article is stored and found under
    final_url: str  # after redirects
    text: str
    html: bool  # HTML or XHTML (else plain text)


def normalised(url: str) -> httpx.URL:
    """The URL to fetch and to store the article under (no fragment), or a 422."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchError(422, f"{url!r} is not a URL ({exc})") from exc
    if parsed.scheme not in SCHEMES:
        shown = parsed.scheme or "none"
        raise FetchError(422, f"only http and https URLs are fetched (scheme: {shown})")
    if not parsed.host:
        raise FetchError(422, f"{url!r} has no host")
    if parsed.userinfo:
        raise FetchError(422, "URLs with a user name or password are not fetched")
    return parsed.copy_with(fragment=None)


def refusal(address: IPAddress) -> str | None:
    """Why this address may not be fetched from (None: a public address)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return refusal(embedded)
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address (cloud metadata lives there)"),
        (address.is_multicast, "a multicast address"),
        (address.is_unspecified, "the unspecified address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _SHARED, "a shared address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def resolve(host: str, port: int) -> list[str]:
    """Every address the host has (an address literal in any form, ``127.1`` included, is its
    own); raises FetchError 502 when it has none."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(502, f"the host {host!r} could not be resolved ({exc})") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def checked_address(url: httpx.URL, allow_private: bool, resolver: Resolver) -> str:
    """The address to connect to for ``url``: its first, once every one has passed."""
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = resolver(url.host, port)
    if not addresses:
        raise FetchError(502, f"the host {url.host!r} has no address")
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])  # an IPv6 zone is not part of it
        reason = None if allow_private else refusal(address)
        if reason is not None:
            raise FetchError(
                403,
                f"{url.host} resolves to {address}, {reason}: not fetched "
                "(ARTICLE_QA_FETCH_PRIVATE_HOSTS=true allows private and loopback hosts)",
            )
    return addresses[0]


def decoded(body: bytes, header_charset: str | None) -> str:
    """The page's text: the header's charset, else the page's own, else a detected one."""
    candidates = [header_charset]
    if match := _META_CHARSET.search(body[:4096]):
        candidates.append(match.group(1).decode("ascii", "replace"))
    for charset in candidates:
        if charset:
            try:
                return body.decode(charset, errors="replace")
            except LookupError:  # a charset name Python does not know
                continue
    best = charset_normalizer.from_bytes(body).best()
    return str(best) if best is not None else body.decode("utf-8", errors="replace")


def fetch(
    url: str,
    *,
    allow_private: bool = False,
    max_bytes: int = MAX_BYTES,
    deadline_s: float = DEADLINE_S,
    resolver: Resolver | None = None,
) -> Page:
    """The page at ``url``, checked at every hop; raises FetchError. ``resolver``: host and port
    to addresses (default ``resolve``, the system's)."""
    resolver = resolver or resolve
    asked = normalised(url)
    current = asked
    ends = time.monotonic() + deadline_s
    with httpx.Client(trust_env=False, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            address = checked_address(current, allow_private, resolver)
            remaining = max(0.1, ends - time.monotonic())
            request = client.build_request(
                "GET",
                current.copy_with(host=address),
                headers={
                    "Host": current.netloc.decode("ascii"),
                    "User-Agent": USER_AGENT,
                    "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9",
                },
                extensions={"sni_hostname": current.host},
                timeout=httpx.Timeout(
                    min(READ_TIMEOUT_S, remaining), connect=min(CONNECT_TIMEOUT_S, remaining)
                ),
            )
            try:
                response = client.send(request, stream=True)
                try:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location:
                        current = normalised(str(current.join(location)))
                        continue
                    text, html = _read(response, current, max_bytes, ends)
                finally:
                    response.close()
            except httpx.TimeoutException as exc:
                raise FetchError(504, f"{current.host} did not answer in time ({exc})") from exc
            except httpx.TransportError as exc:
                raise FetchError(502, f"{current.host} could not be reached ({exc})") from exc
            return Page(str(asked), str(current), text, html)
    raise FetchError(502, f"more than {MAX_REDIRECTS} redirects from {asked}")


def _read(
    response: httpx.Response, url: httpx.URL, max_bytes: int, ends: float
) -> tuple[str, bool]:
    """The body as text, and whether it is HTML; refused when it is not a page, too large or
    too slow."""
    if response.status_code >= 400:
        raise FetchError(502, f"{url} answered {response.status_code} {response.reason_phrase}")
    if response.status_code != 200:
        raise FetchError(502, f"{url} answered {response.status_code}, not a page")
    media = response.headers.get("content-type", "text/html").split(";")[0].strip().lower()
    if media not in TYPES:
        raise FetchError(422, f"{url} is {media}; only HTML, XHTML and plain text are read")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(413, f"{url} is {int(declared):,} bytes; the limit is {max_bytes:,}")
    body = bytearray()
    for chunk in response.iter_bytes():  # unpacked as it arrives: a small gzip can be huge
        body += chunk
        if len(body) > max_bytes:
            raise FetchError(413, f"{url} is larger than {max_bytes:,} bytes")
        if time.monotonic() > ends:
            raise FetchError(504, f"{url} was still sending after the fetch's deadline")
    return decoded(bytes(body), response.charset_encoding), TYPES[media]


class _Locks:
    """One lock per key, kept only while a thread holds it or waits for it (the keys are URLs
    that anyone may send: none stays behind)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}  # key -> (lock, users)

    @contextmanager
    def held(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:  # the last user of this lock: forget it
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


_FETCHING = _Locks()


def ingest_url(
    library: Library,
    url: str,
    *,
    title: str | None = None,
    refresh: bool = False,
    allow_private: bool = False,
    before_fetch: Callable[[], None] = lambda: None,
) -> tuple[IndexedArticle, bool]:
    """The article published at ``url``: the one stored under it already (unless ``refresh``),
    else the page fetched and ingested (under the same id when refreshing). True when it was
    fetched now. Calls for one URL take turns in this process, so the first readers of a new
    page cause one fetch, not one each. ``before_fetch`` runs only when the page is about to be
    fetched: a rate limit that raises."""
    address = str(normalised(url))
    with _FETCHING.held(address):
        stored = library.find_url(address, url)
        if stored is not None and not refresh:
            return stored, False
        before_fetch()
        page = fetch(url, allow_private=allow_private)
        indexed = library.ingest(
            page.text,
            html=page.html,
            title=title,
            url=address,
            article_id=None if stored is None else stored.id,
        )
    return indexed, True
