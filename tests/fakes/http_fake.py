"""What every fake HTTP server here shares: serving on a free port of 127.0.0.1 in a thread, and a
request handler that answers with a body and keeps quiet.

A fake subclasses ``FakeHTTPServer``, passes its handler class (a ``QuietHandler``) and a thread
name to ``__init__``, and serves each request in its own ``_serve(handler)``: the handler finds the
fake as ``self.server.fake``. ``take_scripted`` picks the scripted failure a request gets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, Self, TypeVar


class FakeHTTPServerBase(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # server_close() must not join keep-alive or hanging handler threads
    fake: Any  # the FakeHTTPServer serving through this server


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive with Content-Length on every answer, as the clients reuse connections."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes; Nagle would add ~40 ms to each
    server: FakeHTTPServerBase

    def send_body(self, status: int, raw: bytes, content_type: str | None,
                  extra: dict[str, str] | None = None) -> None:
        """Answer ``status`` with ``raw`` (no Content-Type header when ``content_type`` is None)."""
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: access logs would only bury test output."""


class FakeHTTPServer:
    """Start with ``with Fake() as fake:`` (or ``start()``/``stop()``); ``origin`` is its scheme,
    host and port, ``url`` the base URL a client is given (the origin unless a fake says more)."""

    def __init__(self, handler: type[QuietHandler], thread_name: str, *,
                 server_class: type[FakeHTTPServerBase] = FakeHTTPServerBase) -> None:
        self._handler_class = handler
        self._thread_name = thread_name
        self._server_class = server_class
        self._server: FakeHTTPServerBase | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        server = self._server_class(("127.0.0.1", 0), self._handler_class)
        server.fake = self
        self._server = server
        # A short poll interval, because shutdown() waits up to one interval (0.5 s by default).
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self._thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return self.origin


class _Scripted(Protocol):
    times: int | None  # how many more requests get it; None: every one


S = TypeVar("S", bound=_Scripted)


def take_scripted(scripted: list[S], matches: Callable[[S], bool]) -> S | None:
    """The first of ``scripted`` that ``matches`` the request, used up by one (call under the
    fake's lock)."""
    for entry in scripted:
        if matches(entry):
            if entry.times is not None:
                entry.times -= 1
                if entry.times == 0:
                    scripted.remove(entry)
            return entry
    return None
