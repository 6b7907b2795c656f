"""Download a web page or file for Doc Q&A, within a size limit, as bytes to be sniffed.

The Content-Type header is not trusted (servers label PDFs as octet-stream and error pages
as 200 text/html alike): the caller sniffs the bytes. The body is streamed and dropped as
soon as it passes the limit, so a huge or endless response costs at most `max_bytes`.
`timeout` applies to each network step (connecting, each read), not to the whole download.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import httpx

from services.search.documents import DocumentError
from services.search.parsers import MAX_UPLOAD_BYTES

MAX_REDIRECTS = 5
_USER_AGENT = "LLMCoder/1 (document fetch for Doc Q&A)"


def fetch_url(url: str, *, max_bytes: int = MAX_UPLOAD_BYTES, timeout: float = 20) -> tuple[str, bytes, str]:
    """(final URL after redirects, body, a file name taken from the final URL's path)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise DocumentError(f"Only http:// and https:// links can be fetched, not {url!r}")
    try:
        with httpx.Client(follow_redirects=True, max_redirects=MAX_REDIRECTS, timeout=timeout,
                          headers={"User-Agent": _USER_AGENT}) as client, client.stream("GET", url) as response:
            _check_status(response)
            data = _read_limited(response, max_bytes)
            final_url = str(response.url)
    except httpx.TimeoutException as exc:
        raise DocumentError(f"{url} did not answer within {timeout:g} seconds") from exc
    except httpx.TooManyRedirects as exc:
        raise DocumentError(f"{url} redirected more than {MAX_REDIRECTS} times") from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise DocumentError(f"{url} led to an address that cannot be fetched: {exc}") from exc
    except httpx.HTTPError as exc:
        raise DocumentError(f"{url} could not be fetched: {_reason(exc)}") from exc
    return final_url, data, name_from_url(final_url)


def _check_status(response: httpx.Response) -> None:
    if not response.is_success:
        raise DocumentError(f"{response.url} answered {response.status_code} {response.reason_phrase}".rstrip())


def _read_limited(response: httpx.Response, max_bytes: int) -> bytes:
    too_big = DocumentError(f"{response.url} is larger than the limit of {_megabytes(max_bytes)}")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_big
    body = bytearray()
    for piece in response.iter_bytes():
        body += piece
        if len(body) > max_bytes:
            raise too_big
    return bytes(body)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


def _reason(exc: httpx.HTTPError) -> str:
    """The innermost message ("[Errno 111] Connection refused") without httpx's wrapping."""
    cause: BaseException = exc
    while cause.__cause__ is not None and str(cause.__cause__):
        cause = cause.__cause__
    return " ".join(str(cause).split())[:200] or type(exc).__name__


def name_from_url(url: str) -> str:
    """"https://host/docs/guide.pdf?x=1" -> "guide.pdf"; the host when the path is empty."""
    parts = urlsplit(url)
    segments = [segment for segment in PurePosixPath(unquote(parts.path)).parts if segment != "/"]
    return segments[-1] if segments else (parts.hostname or "download")
