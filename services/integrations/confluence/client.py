"""Confluence as a `WikiSource`: Server/Data Center with a personal access token, or Cloud with
an email address and API token.

The only module allowed to import atlassian-python-api. Every call goes through the library's v1
REST client (`atlassian.ConfluenceServer`, `cloud=` set from the URL): in 5.0.5 the class
`Confluence(cloud=True)` picks is half moved to the v2 API (no `get_page_by_id`; the space and
user calls miss the `rest/api` prefix), while the v1 paths work on both deployments.

Paging, waiting out 429s and error wording are done here, per HTTP request: the library's own
pager resolves `_links.next` against the site root (losing a `/wiki` or `/confluence` context
path), and its own Retry-After handling sleeps with `time.sleep`, which tests cannot skip.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from atlassian import ConfluenceServer
from atlassian.errors import ApiError

from services.integrations.base import (
    IntegrationAuthError,
    IntegrationError,
    IntegrationRateLimited,
    WikiPage,
    WikiPageRef,
    WikiSpace,
)

log = logging.getLogger(__name__)

PAGE_EXPAND = "body.storage,version,metadata.labels,space,ancestors"
LIST_LIMIT = 100  # asked for per listing page; servers cap it lower (Data Center: 25 with expansions)
BACKOFF_START = 1.0  # seconds before the first retry of a 429 without Retry-After; doubles each time

Json = dict[str, Any]


class PageGone(IntegrationError):
    """The page was deleted (or hidden from this token) since it was listed: the sync drops it."""


class ConfluenceClient:
    """One Confluence site. Listings follow the server's `_links.next`; each request that gets a
    429 is retried after Retry-After seconds (or 1, 2, 4 ... without one) until `max_wait`
    seconds of waiting would be exceeded."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        email: str | None = None,
        timeout: float = 30,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cloud = is_cloud_url(url)
        self.url = site_url(url)
        self._credential = "email address and API token" if email else "personal access token"
        self._max_wait = max_wait
        self._sleep = sleep
        auth: Json = {"username": email, "password": token} if email else {"token": token}
        self._api = ConfluenceServer(
            self.url, cloud=self.cloud, timeout=timeout, retry_with_header=False, backoff_and_retry=False, **auth
        )

    def server_title(self) -> str:
        user = self._call("the signed-in user", self._api.get_current_user)
        return str(user.get("displayName") or user.get("username") or self.url)

    def spaces(self) -> list[WikiSpace]:
        what = "the space list"
        first = self._call(what, partial(self._api.get_all_spaces, limit=LIST_LIMIT))
        return [
            WikiSpace(key=space["key"], name=space["name"], url=self._absolute(space["_links"]["webui"]))
            for space in self._follow(first, what)
        ]

    def pages(self, space_key: str) -> Iterator[WikiPageRef]:
        """Depth-first over the page tree with one lazy listing per open level, so memory stays
        small; a page listed twice (offsets shift when pages are added mid-crawl) is yielded once."""
        roots = self._listing(f"rest/api/space/{quote(space_key, safe='')}/content/page", f"space {space_key}",
                              depth="root")
        stack = [roots]
        seen: set[str] = set()
        while stack:
            entry = next(stack[-1], None)
            if entry is None:
                stack.pop()
                continue
            page_id = str(entry["id"])
            if page_id in seen:
                continue
            seen.add(page_id)
            yield WikiPageRef(id=page_id, title=entry["title"], version=int(entry["version"]["number"]),
                              space_key=space_key)
            stack.append(self._children(page_id))

    def page(self, page_id: str) -> WikiPage:
        what = f"page {page_id}"
        data = self._call(what, partial(self._api.get_page_by_id, quote(page_id, safe=""), expand=PAGE_EXPAND),
                          not_found=PageGone)
        labels = self._follow(data.get("metadata", {}).get("labels", {}), f"the labels of {what}", PageGone)
        ancestors = data.get("ancestors") or []
        return WikiPage(
            id=str(data["id"]),
            title=data["title"],
            url=self._absolute(data["_links"]["webui"]),
            space_key=data["space"]["key"],
            version=int(data["version"]["number"]),
            labels=tuple(label["name"] for label in labels),
            storage=data["body"]["storage"]["value"],
            parent_id=str(ancestors[-1]["id"]) if ancestors else None,
        )

    def _children(self, page_id: str) -> Iterator[Json]:
        try:
            yield from self._listing(f"rest/api/content/{quote(page_id, safe='')}/child/page",
                                     f"the children of page {page_id}", not_found=PageGone)
        except PageGone:
            return  # deleted since its parent was listed; Confluence moved its children up a level

    def _listing(self, path: str, what: str, not_found: type[IntegrationError] = IntegrationError,
                 **params: str) -> Iterator[Json]:
        query = {"limit": LIST_LIMIT, "expand": "version", **params}
        first = self._call(what, partial(self._api.get, path, params=query), not_found)
        yield from self._follow(first, what, not_found)

    def _follow(self, response: Json, what: str,
                not_found: type[IntegrationError] = IntegrationError) -> Iterator[Json]:
        """The results of a listing page, then of each page its `_links.next` leads to."""
        while True:
            yield from response.get("results", [])
            link = response.get("_links", {}).get("next")
            if not link:
                return
            response = self._call(what, partial(self._api.get, self._next_url(link), absolute=True), not_found)

    def _next_url(self, link: str) -> str:
        """Confluence's next links are relative to the base URL, context path excluded
        ("/rest/api/...?start=25"); some carry the context path, or are absolute. An absolute one
        for another host is refused rather than sent our credentials."""
        parts = urlsplit(link)
        site = urlsplit(self.url)
        origin = f"{site.scheme}://{site.netloc}"
        if parts.scheme or parts.netloc:
            if f"{parts.scheme}://{parts.netloc}" != origin:
                raise IntegrationError(
                    f"Confluence at {self.url} sent a next-page link to another host; not following it")
            return link
        path = link.lstrip("/")
        context = site.path.strip("/")
        if context and (path + "/").startswith(context + "/"):
            return f"{origin}/{path}"
        return f"{self.url}/{path}"

    def _absolute(self, webui: str) -> str:
        return webui if urlsplit(webui).scheme else self.url + webui

    def _call(self, what: str, request: Callable[[], Any],
              not_found: type[IntegrationError] = IntegrationError) -> Json:
        """One library call, waiting out 429s; every failure becomes an IntegrationError."""
        waited, attempt = 0.0, 0
        while True:
            try:
                result = request()
            except (requests.HTTPError, ApiError) as exc:
                response = http_response(exc)
                status = response.status_code if response is not None else 0
                if status != 429:
                    raise self._http_error(status, what, not_found) from exc
                waited += self._wait(what, retry_after(response), attempt, waited)
                attempt += 1
                continue
            except requests.RequestException as exc:
                kind = "the request timed out" if isinstance(exc, requests.Timeout) else "the connection failed"
                message = f"Could not reach Confluence at {self.url} ({kind}) while reading {what}"
                raise IntegrationError(message) from exc
            if not isinstance(result, dict):
                raise IntegrationError(f"Confluence at {self.url} did not answer with JSON while reading {what}; "
                                       "is the URL right, and not a login page or proxy?")
            return result

    def _wait(self, what: str, hint: float | None, attempt: int, waited: float) -> float:
        """Sleep before a retry and return the seconds slept, or give up once `max_wait` would be passed."""
        delay = hint if hint is not None else BACKOFF_START * 2**attempt
        if waited + delay > self._max_wait:
            raise IntegrationRateLimited(
                f"Confluence is rate-limiting requests for {what} (it asks for {delay:g} s more after "
                f"{waited:g} s of waiting); try again later",
                retry_after=delay,
            )
        log.info("Confluence rate-limited a request for %s; retrying in %g s", what, delay)
        self._sleep(delay)
        return delay

    def _http_error(self, status: int, what: str, not_found: type[IntegrationError]) -> IntegrationError:
        if status in (401, 403):
            return IntegrationAuthError(f"Confluence refused the token (HTTP {status}) while reading {what}: "
                                        f"check the {self._credential} and that its user may see this content")
        if status == 404:
            return not_found(f"Confluence has no {what} (deleted, or not visible to this token)")
        if status >= 500:
            return IntegrationError(f"Confluence at {self.url} failed (HTTP {status}) while reading {what}; "
                                    "try again later, or ask its administrator if this persists")
        return IntegrationError(f"Confluence rejected the request for {what} (HTTP {status})")


def is_cloud_url(url: str) -> bool:
    """Atlassian Cloud sites live on *.atlassian.net; anything else is Server/Data Center."""
    return (urlsplit(url).hostname or "").endswith(".atlassian.net")


def site_url(url: str) -> str:
    """The base URL pages and REST paths hang off: no trailing slash, `/wiki` added on Cloud."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise IntegrationError("The Confluence URL must start with http:// or https:// and name a host")
    if parts.username or parts.password:
        raise IntegrationError("Put the Confluence credentials in the token fields, not in the URL")
    path = parts.path.rstrip("/")
    if is_cloud_url(url) and not path:
        path = "/wiki"
    return f"{parts.scheme}://{parts.netloc}{path}"


def http_response(exc: requests.HTTPError | ApiError) -> requests.Response | None:
    """The HTTP response behind an error; the library wraps some 404s in ApiError(reason=HTTPError)."""
    cause = exc.reason if isinstance(exc, ApiError) else exc
    return getattr(cause, "response", None)


def retry_after(response: requests.Response) -> float | None:
    """Retry-After in seconds, or None when absent or not a number (an HTTP date falls back to backoff)."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
