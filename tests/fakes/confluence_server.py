"""A fake Confluence Server/Data Center REST API (v1) with spaces and a page tree in memory.

It serves the endpoints ``services.integrations.confluence.client`` reaches through
atlassian-python-api 5.0.5, under an optional context path (``context="/wiki"`` looks like Cloud):

* ``GET {ctx}/rest/api/user/current``
* ``GET {ctx}/rest/api/space`` (paged)
* ``GET {ctx}/rest/api/space/{key}/content/page?depth=root|all`` (paged)
* ``GET {ctx}/rest/api/content/{id}/child/page`` (paged)
* ``GET {ctx}/rest/api/content/{id}?expand=body.storage,version,metadata.labels,space,ancestors``
* ``GET {ctx}/rest/api/content/{id}/label`` (paged)

Paging is Confluence's: ``limit`` is capped at ``max_limit`` whatever is asked, each answer has
``start``, ``limit``, ``size`` and ``_links.base``/``context``, and ``_links.next`` (relative to
the base URL, without the context path, with the same query and the next ``start``) appears only
when more results remain. ``trailing_empty_page=True`` models servers that also offer a next link
after an exactly full last page. Auth is a Bearer personal access token, or HTTP basic with an
email address and API token; anything else gets Confluence's 401 JSON body.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.fakes.http_fake import FakeHTTPServer, QuietHandler, take_scripted

Json = dict[str, Any]
Query = dict[str, list[str]]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received; ``auth`` is the scheme used (never the secret)."""

    method: str
    path: str  # without the query, context path included
    query: Query
    auth: Literal["bearer", "basic"] | None
    at: float = field(compare=False)


@dataclass
class _Failure:
    """A scripted answer for the next ``times`` matching requests (``None``: every one)."""

    status: int
    times: int | None
    retry_after: str | None
    path_contains: str
    body: str | None
    content_type: str
    delay: float


@dataclass
class FakePage:
    id: str
    space_key: str
    title: str
    body: str
    parent_id: str | None
    labels: list[str]
    version: int = 1


class FakeConfluence(FakeHTTPServer):
    """Start with ``with FakeConfluence() as fake:``; ``fake.url`` is the base URL to configure."""

    def __init__(
        self,
        *,
        token: str = "server-pat-secret",
        email: str = "ann@example.com",
        api_token: str = "cloud-api-token-secret",
        context: str = "",
        max_limit: int = 25,
        label_expand_limit: int = 200,
        trailing_empty_page: bool = False,
        next_prefix: str = "",
        display_name: str = "Ann Example",
    ) -> None:
        super().__init__(_Handler, "fake-confluence")
        self.token, self.email, self.api_token = token, email, api_token
        self.context = context.rstrip("/")
        self.max_limit = max_limit
        self.label_expand_limit = label_expand_limit
        self.trailing_empty_page = trailing_empty_page
        self.next_prefix = next_prefix  # put before each relative next link ("/wiki", or an origin)
        self.display_name = display_name
        self._lock = threading.Lock()
        self._spaces: dict[str, str] = {}
        self._pages: dict[str, FakePage] = {}
        self._order: list[str] = []  # sibling order: children are listed in this order
        self._ids = itertools.count(1001)
        self._failures: list[_Failure] = []
        self._requests: list[RecordedRequest] = []

    @property
    def url(self) -> str:
        """The base URL, context path included, as a user would configure it."""
        return self.origin + self.context

    # -- content ---------------------------------------------------------------------------------

    def add_space(self, key: str, name: str) -> None:
        with self._lock:
            self._spaces[key] = name

    def add_page(self, space_key: str, title: str, body: str = "", *, parent_id: str | None = None,
                 labels: tuple[str, ...] = (), first: bool = False) -> str:
        """A new page (version 1); ``first`` lists it before its existing siblings."""
        with self._lock:
            if space_key not in self._spaces:
                raise KeyError(f"no space {space_key}")
            page_id = str(next(self._ids))
            self._pages[page_id] = FakePage(page_id, space_key, title, body, parent_id, list(labels))
            self._order.insert(0 if first else len(self._order), page_id)
            return page_id

    def edit_page(self, page_id: str, *, title: str | None = None, body: str | None = None,
                  labels: tuple[str, ...] | None = None) -> int:
        """Change a page as an edit in Confluence would: the version goes up by one."""
        with self._lock:
            page = self._pages[page_id]
            page.title = page.title if title is None else title
            page.body = page.body if body is None else body
            page.labels = page.labels if labels is None else list(labels)
            page.version += 1
            return page.version

    def delete_page(self, page_id: str) -> None:
        """Delete one page; like Confluence, its children move up to its parent."""
        with self._lock:
            page = self._pages.pop(page_id)
            self._order.remove(page_id)
            for other in self._pages.values():
                if other.parent_id == page_id:
                    other.parent_id = page.parent_id

    def page_ids(self, space_key: str) -> list[str]:
        with self._lock:
            return [pid for pid in self._order if self._pages[pid].space_key == space_key]

    # -- scripting and records -------------------------------------------------------------------

    def fail(self, status: int, *, times: int | None = 1, retry_after: float | str | None = None,
             path_contains: str = "", body: str | None = None, content_type: str = "application/json",
             delay: float = 0.0) -> None:
        """Answer the next ``times`` requests whose path contains ``path_contains`` with ``status``
        (``times=None``: all of them) after ``delay`` seconds; ``body`` replaces Confluence's JSON error body."""
        hint = f"{retry_after:g}" if isinstance(retry_after, float | int) else retry_after
        with self._lock:
            self._failures.append(_Failure(status, times, hint, path_contains, body, content_type, delay))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path_suffix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith(path_suffix)]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- serving ---------------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        header = handler.headers.get("Authorization", "")
        with self._lock:
            self._requests.append(RecordedRequest(handler.command, parts.path, query, _scheme(header),
                                                  time.monotonic()))
            failure = take_scripted(self._failures, lambda f: f.path_contains in parts.path)
        if failure is not None:
            self._reply_failure(handler, failure)
            return
        if not self._authorised(header):
            handler.reply(401, _error(401, "This request requires authentication.", authorized=False))
            return
        rest = parts.path[len(self.context):] if parts.path.startswith(self.context + "/") else None
        route = _route(rest) if rest is not None else None
        if route is None:
            handler.reply(404, _error(404, f"No resource at {parts.path}"))
            return
        name, arg = route
        with self._lock:
            status, body = getattr(self, f"_get_{name}")(arg, query)
        handler.reply(status, body)

    @staticmethod
    def _reply_failure(handler: _Handler, failure: _Failure) -> None:
        body = failure.body if failure.body is not None else _error(failure.status, "Scripted failure")
        extra = {} if failure.retry_after is None else {"Retry-After": failure.retry_after}
        time.sleep(failure.delay)
        handler.reply(failure.status, body, failure.content_type, extra)

    def _authorised(self, header: str) -> bool:
        if header == f"Bearer {self.token}":
            return True
        expected = base64.b64encode(f"{self.email}:{self.api_token}".encode()).decode()
        return header == f"Basic {expected}"

    # Each _get_* runs under the lock and returns (status, JSON text).

    def _get_user(self, _: str, __: Query) -> tuple[int, str]:
        return 200, json.dumps({"type": "known", "username": "ann", "userKey": "ff80808100000001",
                                "displayName": self.display_name, "_links": {"base": self.url}})

    def _get_spaces(self, _: str, query: Query) -> tuple[int, str]:
        keys = sorted(self._spaces)
        return 200, self._paged("/rest/api/space", query, keys, self._space_json)

    def _get_space_pages(self, key: str, query: Query) -> tuple[int, str]:
        if key not in self._spaces:
            return 404, _error(404, f"No space with key : {key}")
        root_only = _first(query, "depth", "all") == "root"
        ids = [pid for pid in self._order if self._pages[pid].space_key == key
               and (not root_only or self._pages[pid].parent_id is None)]
        return 200, self._paged(f"/rest/api/space/{key}/content/page", query, ids, self._content_renderer(query))

    def _get_children(self, page_id: str, query: Query) -> tuple[int, str]:
        if page_id not in self._pages:
            return 404, _not_found(page_id)
        ids = [pid for pid in self._order if self._pages[pid].parent_id == page_id]
        return 200, self._paged(f"/rest/api/content/{page_id}/child/page", query, ids, self._content_renderer(query))

    def _get_content(self, page_id: str, query: Query) -> tuple[int, str]:
        if page_id not in self._pages:
            return 404, _not_found(page_id)
        return 200, json.dumps(self._content_renderer(query)(page_id))

    def _get_labels(self, page_id: str, query: Query) -> tuple[int, str]:
        if page_id not in self._pages:
            return 404, _not_found(page_id)
        return 200, self._paged(f"/rest/api/content/{page_id}/label", query, self._pages[page_id].labels, _label_json)

    def _paged(self, path: str, query: Query, items: list[str], render: Callable[[str], Json]) -> str:
        return json.dumps(self._page_of(path, query, items, render))

    def _page_of(self, path: str, query: Query, items: list[str], render: Callable[[str], Json],
                 cap: int | None = None) -> Json:
        """One page of a listing, with Confluence's fields and links."""
        cap = self.max_limit if cap is None else cap
        start = int(_first(query, "start", "0"))
        limit = min(int(_first(query, "limit", str(cap))), cap)
        window = items[start:start + limit]
        links: Json = {"base": self.url, "context": self.context, "self": self.url + path}
        if start + limit < len(items) or (self.trailing_empty_page and window and len(window) == limit):
            following = {**query, "start": [str(start + limit)], "limit": [str(limit)]}
            links["next"] = f"{self.next_prefix}{path}?{urlencode(following, doseq=True)}"
        return {"results": [render(item) for item in window], "start": start, "limit": limit,
                "size": len(window), "_links": links}

    def _space_json(self, key: str) -> Json:
        return {"id": list(self._spaces).index(key) + 1, "key": key, "name": self._spaces[key], "type": "global",
                "status": "current",
                "_links": {"webui": f"/display/{key}", "self": f"{self.url}/rest/api/space/{key}"}}

    def _content_renderer(self, query: Query) -> Callable[[str], Json]:
        expand = set(",".join(query.get("expand", [])).split(","))
        return lambda page_id: self._content_json(self._pages[page_id], expand)

    def _content_json(self, page: FakePage, expand: set[str]) -> Json:
        data: Json = {
            "id": page.id, "type": "page", "status": "current", "title": page.title,
            "_links": {"webui": f"/pages/viewpage.action?pageId={page.id}", "tinyui": f"/x/{page.id}",
                       "self": f"{self.url}/rest/api/content/{page.id}"},
            "_expandable": {"container": f"/rest/api/space/{page.space_key}", "children": "", "history": ""},
        }
        if "version" in expand:
            data["version"] = {"number": page.version, "minorEdit": False, "when": "2026-11-01T10:00:00.000Z",
                               "by": {"type": "known", "displayName": self.display_name}}
        if "space" in expand:
            data["space"] = self._space_json(page.space_key)
        if "body.storage" in expand:
            data["body"] = {"storage": {"value": page.body, "representation": "storage"}}
        if "ancestors" in expand:
            data["ancestors"] = [self._content_json(self._pages[pid], set()) for pid in self._ancestors(page)]
        if "metadata.labels" in expand:
            labels = self._page_of(f"/rest/api/content/{page.id}/label", {}, page.labels, _label_json,
                                   self.label_expand_limit)
            data["metadata"] = {"labels": labels}
        return data

    def _ancestors(self, page: FakePage) -> list[str]:
        chain = []
        parent = page.parent_id
        while parent is not None:
            chain.append(parent)
            parent = self._pages[parent].parent_id
        return chain[::-1]


_ROUTES = [
    ("user", re.compile(r"/rest/api/user/current")),
    ("spaces", re.compile(r"/rest/api/space")),
    ("space_pages", re.compile(r"/rest/api/space/(?P<arg>[^/]+)/content/page")),
    ("children", re.compile(r"/rest/api/content/(?P<arg>\d+)/child/page")),
    ("labels", re.compile(r"/rest/api/content/(?P<arg>\d+)/label")),
    ("content", re.compile(r"/rest/api/content/(?P<arg>\d+)")),
]


def _route(path: str) -> tuple[str, str] | None:
    for name, pattern in _ROUTES:
        match = pattern.fullmatch(path)
        if match:
            return name, match.groupdict().get("arg") or ""
    return None


def _first(query: Query, name: str, default: str) -> str:
    return query.get(name, [default])[0]


def _scheme(header: str) -> Literal["bearer", "basic"] | None:
    kind = header.split(" ", 1)[0].lower()
    return "bearer" if kind == "bearer" else "basic" if kind == "basic" else None


def _label_json(name: str) -> Json:
    return {"prefix": "global", "name": name, "id": str(zlib.crc32(name.encode())), "label": name}


_REASONS = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error", 503: "Service Unavailable"}


def _error(status: int, message: str, *, authorized: bool = True) -> str:
    """Confluence's JSON error body."""
    return json.dumps({
        "statusCode": status,
        "data": {"authorized": authorized, "valid": True, "allowedInReadOnlyMode": True, "errors": [],
                 "successful": False},
        "message": message,
        "reason": _REASONS.get(status, "Error"),
    })


def _not_found(page_id: str) -> str:
    return _error(404, f"No content found with id: ContentId{{id={page_id}}}")


class _Handler(QuietHandler):
    def do_GET(self) -> None:
        try:
            self.server.fake._serve(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its timeout fired); nothing to answer

    def reply(self, status: int, body: str, content_type: str = "application/json",
              extra: dict[str, str] | None = None) -> None:
        self.send_body(status, body.encode(), f"{content_type};charset=UTF-8", extra)
