"""fetch_url against a real local HTTP server: redirects, errors, size limits and timeouts
all end in a DocumentError with a short reason."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.search.documents import DocumentError
from services.search.fetch import fetch_url, name_from_url

PAGE = b"<!doctype html><html><head><title>Hello</title></head><body><p>Hi there</p></body></html>"
ENDLESS_LIMIT = 64 * 1024 * 1024


class Handler(BaseHTTPRequestHandler):
    sent_by_endless = 0
    release_slow = threading.Event()

    def do_GET(self) -> None:
        route = getattr(self, "route_" + re.sub(r"\W", "_", self.path.strip("/").split("?")[0]), None)
        if route is None:
            self.answer(404, b"nothing here")
        else:
            route()

    def answer(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def route_docs_page_html(self) -> None:
        self.answer(200, PAGE, Content_Type="application/octet-stream")

    def route_old(self) -> None:
        self.answer(301, b"", Location="/hop")

    def route_hop(self) -> None:
        self.answer(302, b"", Location="/docs/page.html?from=hop")

    def route_loop(self) -> None:
        self.answer(302, b"", Location="/loop")

    def route_to_ftp(self) -> None:
        self.answer(302, b"", Location="ftp://example.com/file.txt")

    def route_error(self) -> None:
        self.answer(500, b"boom")

    def route_declared_huge(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(10**9))
        self.end_headers()
        self.wfile.write(b"x" * 1000)

    def route_endless(self) -> None:
        """No Content-Length: the body runs until the client hangs up."""
        self.send_response(200)
        self.end_headers()
        piece = b"y" * 65536
        try:
            while Handler.sent_by_endless < ENDLESS_LIMIT:
                self.wfile.write(piece)
                Handler.sent_by_endless += len(piece)
        except OSError:
            pass

    def route_slow(self) -> None:
        Handler.release_slow.wait(10)
        self.answer(200, b"late")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    Handler.release_slow.set()
    httpd.shutdown()
    httpd.server_close()


def test_a_page_is_fetched_whatever_its_content_type(server):
    final_url, data, name = fetch_url(f"{server}/docs/page.html")
    assert (final_url, data, name) == (f"{server}/docs/page.html", PAGE, "page.html")


def test_redirects_are_followed_to_the_final_url(server):
    final_url, data, name = fetch_url(f"{server}/old")
    assert final_url == f"{server}/docs/page.html?from=hop"
    assert data == PAGE and name == "page.html"


def test_a_redirect_loop_gives_up(server):
    with pytest.raises(DocumentError, match="redirected more than 5 times"):
        fetch_url(f"{server}/loop")


def test_a_redirect_to_another_scheme_is_refused(server):
    with pytest.raises(DocumentError, match="cannot be fetched"):
        fetch_url(f"{server}/to-ftp")


@pytest.mark.parametrize(("path", "status"), [("/missing", "404 Not Found"), ("/error", "500 Internal Server Error")])
def test_an_error_status_is_reported(server, path, status):
    with pytest.raises(DocumentError) as error:
        fetch_url(server + path)
    assert str(error.value) == f"{server}{path} answered {status}"


def test_a_declared_oversized_body_is_refused_before_reading(server):
    with pytest.raises(DocumentError, match="larger than the limit of 0.5 MB"):
        fetch_url(f"{server}/declared-huge", max_bytes=512 * 1024)


def test_an_endless_body_is_cut_off_at_the_limit(server):
    Handler.sent_by_endless = 0
    started = time.monotonic()
    with pytest.raises(DocumentError, match="larger than the limit of 1 MB"):
        fetch_url(f"{server}/endless", max_bytes=1024 * 1024)
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 5
    while Handler.sent_by_endless < ENDLESS_LIMIT and time.monotonic() < deadline:
        before = Handler.sent_by_endless
        time.sleep(0.2)
        if Handler.sent_by_endless == before:
            break  # the server noticed the hang-up
    assert Handler.sent_by_endless < ENDLESS_LIMIT // 4, "the client kept reading"


def test_a_slow_server_times_out(server):
    started = time.monotonic()
    with pytest.raises(DocumentError, match=r"did not answer within 0.5 seconds"):
        fetch_url(f"{server}/slow", timeout=0.5)
    assert time.monotonic() - started < 5


def test_a_closed_port_is_a_short_reason():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DocumentError, match=rf"http://127.0.0.1:{port}/x could not be fetched: \S"):
        fetch_url(f"http://127.0.0.1:{port}/x", timeout=2)


@pytest.mark.parametrize("url", ["ftp://example.com/a.pdf", "file:///etc/passwd", "javascript:alert(1)",
                                 "example.com/page", "http://"])
def test_only_http_and_https_links_are_fetched(url):
    with pytest.raises(DocumentError, match="Only http:// and https:// links can be fetched"):
        fetch_url(url)


@pytest.mark.parametrize(("url", "name"), [
    ("https://host/docs/guide%20v2.pdf?x=1#top", "guide v2.pdf"),
    ("https://host/docs/", "docs"),
    ("https://docs.example.com", "docs.example.com"),
])
def test_the_name_comes_from_the_url_path(url, name):
    assert name_from_url(url) == name
