"""Fake OpenAI, Anthropic and Gemini HTTP servers, so gateway tests exercise real litellm over HTTP.

One ``FakeLLMServer`` speaks all three dialects on one port; the request path picks the dialect.
Pass ``fake.api_base(dialect)`` as litellm's ``api_base=``; litellm 1.106.2 appends:

* ``"openai"``    -> ``http://127.0.0.1:PORT/v1``; model ``openai/<name>`` POSTs ``/v1/chat/completions``.
* ``"anthropic"`` -> ``http://127.0.0.1:PORT``; model ``anthropic/<name>`` POSTs ``/v1/messages``
  (litellm adds the ``/v1``: an api_base ending in ``/v1`` would hit ``/v1/v1/messages``).
* ``"gemini"``    -> ``http://127.0.0.1:PORT/v1beta``; model ``gemini/<name>`` POSTs
  ``/v1beta/models/<name>:generateContent`` or ``...:streamGenerateContent?alt=sse`` (litellm adds
  no version segment, so ``/v1beta`` is in the api_base to mirror Google's real URL layout).

* ``"openai"`` also serves speech to text: ``litellm.atranscription(model="openai/<name>", file=...)`` POSTs
  multipart form data (file, model, language, response_format) to ``/v1/audio/transcriptions``; the
  answer is ``{"text", "usage"}`` as OpenAI sends it (``verbose_json`` adds language, duration and
  segments), usage in billed seconds (tokens for gpt-4o models). A file that is not a WAV is refused
  with OpenAI's 400 before any script is used; so are the formats the fake does not speak.

Routing looks only at the path's ending, so other prefixes work too. Models are keyed by the name
the provider sees (``"m1"`` for ``openai/m1``): the body's ``model`` for OpenAI/Anthropic, the URL
for Gemini. Token counts in ``ok()`` use OpenAI's meaning (prompt includes cached tokens,
completion includes reasoning tokens) and are translated into each vendor's own usage fields.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import itertools
import json
import math
import re
import socket
import threading
import time
import wave
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from tests.fakes.http_fake import FakeHTTPServer, FakeHTTPServerBase, QuietHandler

Dialect = Literal["openai", "anthropic", "gemini"]


@dataclass(frozen=True)
class Ok:
    """A successful answer; ``None`` fields get deterministic defaults so tests can predict usage.

    text: ``"Answer from <model>"`` (a transcript too); prompt_tokens: words in all message text + 3;
    completion_tokens: words in ``text`` + ``reasoning_tokens``.
    """

    text: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True)
class Error:
    """An HTTP error with the vendor's error body; ``retry_after`` (seconds) adds a Retry-After header."""

    status: int
    retry_after: float | None = None
    message: str | None = None  # None: the vendor-typical wording for this status


@dataclass(frozen=True)
class Hang:
    """Wait ``seconds`` before answering with ``then`` (to trip client timeouts); ``stop()`` cuts it short."""

    seconds: float
    then: Ok | Error = Ok()


Behaviour = Ok | Error | Hang
ok = Ok
error = Error
hang = Hang


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it; ``at`` is ``time.monotonic()`` on arrival."""

    dialect: Dialect
    model: str
    path: str
    headers: dict[str, str]
    body: Any
    streamed: bool
    at: float = field(compare=False)


_GEMINI_PATH = re.compile(r"/models/(?P<model>[^/:]+):(?P<action>generateContent|streamGenerateContent)$")

# litellm classifies some errors by message text: an OpenAI 401 becomes AuthenticationError only if it
# says "Incorrect API key provided" (as OpenAI's does), otherwise BadRequestError. So default to real wording.
_DEFAULT_MESSAGES = {
    401: "Incorrect API key provided: fake-key. You can find your API key at https://platform.openai.com/api-keys.",
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    503: "The service is temporarily unavailable.",
}
_OPENAI_ERRORS = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_GEMINI_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def refused_url() -> str:
    """An ``http://127.0.0.1:PORT`` that nothing listens on, for connection-refused tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _words(node: Any) -> int:
    """Whitespace-separated words in message text, whichever vendor shape carries it."""
    if isinstance(node, str):
        return len(node.split())
    if isinstance(node, list):
        return sum(_words(item) for item in node)
    if isinstance(node, dict):
        return sum(_words(node[key]) for key in ("content", "text", "parts") if key in node)
    return 0


def _pieces(text: str) -> list[str]:
    """Split text into word-sized stream chunks that join back to exactly ``text``."""
    return [piece for piece in re.split(r"(?<=\s)(?=\S)", text) if piece]


@dataclass(frozen=True)
class _Answer:
    """An ``Ok`` with every default resolved for one request."""

    text: str
    prompt: int
    completion: int
    cached: int
    reasoning: int

    @classmethod
    def resolve(cls, behaviour: Ok, model: str, body: Any) -> _Answer:
        text = f"Answer from {model}" if behaviour.text is None else behaviour.text
        prompt = behaviour.prompt_tokens
        if prompt is None:
            prompt = 3 + sum(_words(body.get(key)) for key in ("messages", "system", "contents", "systemInstruction"))
        completion = behaviour.completion_tokens
        if completion is None:
            completion = len(text.split()) + behaviour.reasoning_tokens
        return cls(text, prompt, completion, behaviour.cached_tokens, behaviour.reasoning_tokens)


def _sse(events: list[tuple[str | None, Any]]) -> bytes:
    """Server-sent events; a ``None`` event name writes a bare ``data:`` line."""
    out = []
    for name, data in events:
        payload = data if isinstance(data, str) else json.dumps(data)
        out.append((f"event: {name}\n" if name else "") + f"data: {payload}\n\n")
    return "".join(out).encode()


def _openai_usage(a: _Answer) -> dict[str, Any]:
    return {
        "prompt_tokens": a.prompt,
        "completion_tokens": a.completion,
        "total_tokens": a.prompt + a.completion,
        "prompt_tokens_details": {"cached_tokens": a.cached},
        "completion_tokens_details": {"reasoning_tokens": a.reasoning},
    }


def _openai_ok(model: str, a: _Answer, rid: str, body: Any, stream: bool) -> bytes:
    created = int(time.time())
    if not stream:
        return json.dumps(
            {
                "id": rid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": a.text}, "finish_reason": "stop"}
                ],
                "usage": _openai_usage(a),
            }
        ).encode()
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model}
    deltas = [{"role": "assistant", "content": ""}] + [{"content": p} for p in _pieces(a.text)]
    chunks = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if include_usage:
        chunks = [{**c, "usage": None} for c in chunks] + [{**base, "choices": [], "usage": _openai_usage(a)}]
    return _sse([(None, c) for c in chunks] + [(None, "[DONE]")])


def _anthropic_usage(a: _Answer, output_tokens: int) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "input_tokens": a.prompt - a.cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": a.cached,
        "output_tokens": output_tokens,
    }
    if a.reasoning:
        usage["output_tokens_details"] = {"thinking_tokens": a.reasoning}
    return usage


def _anthropic_ok(model: str, a: _Answer, rid: str, stream: bool) -> bytes:
    message = {"id": rid, "type": "message", "role": "assistant", "model": model, "stop_sequence": None}
    if not stream:
        return json.dumps(
            {
                **message,
                "content": [{"type": "text", "text": a.text}],
                "stop_reason": "end_turn",
                "usage": _anthropic_usage(a, a.completion),
            }
        ).encode()
    start_usage = {k: v for k, v in _anthropic_usage(a, 1).items() if k != "output_tokens_details"}
    delta_usage = {"output_tokens": a.completion}
    if a.reasoning:
        delta_usage["output_tokens_details"] = {"thinking_tokens": a.reasoning}
    started = {**message, "content": [], "stop_reason": None, "usage": start_usage}
    ended = {"stop_reason": "end_turn", "stop_sequence": None}
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": started},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
            for piece in _pieces(a.text)
        ),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": ended, "usage": delta_usage},
        {"type": "message_stop"},
    ]
    return _sse([(event["type"], event) for event in events])


def _gemini_usage(a: _Answer) -> dict[str, Any]:
    """Gemini counts thoughts outside candidates and, like its real API, omits zero counts."""
    usage = {
        "promptTokenCount": a.prompt,
        "candidatesTokenCount": a.completion - a.reasoning,
        "totalTokenCount": a.prompt + a.completion,
    }
    if a.cached:
        usage["cachedContentTokenCount"] = a.cached
    if a.reasoning:
        usage["thoughtsTokenCount"] = a.reasoning
    return usage


def _gemini_ok(model: str, a: _Answer, rid: str, stream: bool) -> bytes:
    def candidate(text: str, finished: bool) -> dict[str, Any]:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
        if finished:
            cand["finishReason"] = "STOP"
        return cand

    meta = {"modelVersion": model, "responseId": rid}
    if not stream:
        return json.dumps({"candidates": [candidate(a.text, True)], "usageMetadata": _gemini_usage(a), **meta}).encode()
    pieces = _pieces(a.text) or [""]
    chunks = [{"candidates": [candidate(piece, False)], **meta} for piece in pieces[:-1]]
    chunks.append({"candidates": [candidate(pieces[-1], True)], "usageMetadata": _gemini_usage(a), **meta})
    return _sse([(None, chunk) for chunk in chunks])


def _error_body(dialect: Dialect, err: Error) -> bytes:
    message = err.message or _DEFAULT_MESSAGES.get(err.status, f"Scripted HTTP {err.status} from the fake")
    if dialect == "openai":
        kind, code = _OPENAI_ERRORS.get(err.status, ("server_error", None))
        body: dict[str, Any] = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    elif dialect == "anthropic":
        kind = _ANTHROPIC_ERRORS.get(err.status, "api_error")
        body = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        status = _GEMINI_STATUSES.get(err.status, "UNKNOWN")
        body = {"error": {"code": err.status, "message": message, "status": status}}
    return json.dumps(body).encode()


_AUDIO_FORMATS = ["flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"]
_TRANSCRIPTIONS = "/audio/transcriptions"


def _form(content_type: str, raw: bytes) -> dict[str, Any]:
    """multipart/form-data fields: text as str, an uploaded file as bytes."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    fields: dict[str, Any] = {}
    if message.is_multipart():
        for part in message.iter_parts():
            payload = part.get_payload(decode=True) or b""
            fields[part.get_param("name", header="content-disposition")] = (
                payload if part.get_filename() else payload.decode())
    return fields


def _wav_seconds(data: Any) -> float | None:
    """The length of a WAV upload, or None when it is not one (OpenAI refuses those with 400)."""
    try:
        with wave.open(io.BytesIO(data)) as audio:
            return audio.getnframes() / audio.getframerate()
    except (wave.Error, EOFError, TypeError, ZeroDivisionError):
        return None


def _refusal(form: dict[str, Any]) -> Error | None:
    """What OpenAI answers a transcription request it cannot take, before transcribing anything."""
    if not form.get("model"):
        return Error(400, message="you must provide a model parameter")
    if "file" not in form or _wav_seconds(form["file"]) is None:
        return Error(400, message=f"Invalid file format. Supported formats: {_AUDIO_FORMATS}")
    if form.get("response_format", "json") not in ("json", "verbose_json"):
        return Error(400, message=f"The fake does not answer response_format {form['response_format']!r}")
    return None


def _transcription_ok(model: str, behaviour: Ok, form: dict[str, Any]) -> bytes:
    text = f"Answer from {model}" if behaviour.text is None else behaviour.text
    seconds = _wav_seconds(form["file"]) or 0.0
    if model.startswith("gpt-4o"):
        audio_tokens = math.ceil(seconds * 1000 / 60)
        output_tokens = len(text.split())
        usage: dict[str, Any] = {"type": "tokens", "input_tokens": audio_tokens, "output_tokens": output_tokens,
                                 "total_tokens": audio_tokens + output_tokens,
                                 "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens}}
    else:
        usage = {"type": "duration", "seconds": math.ceil(seconds)}
    answer: dict[str, Any] = {"text": text, "usage": usage}
    if form.get("response_format") == "verbose_json":
        segment = {"id": 0, "seek": 0, "start": 0.0, "end": round(seconds, 2), "text": f" {text}", "tokens": [],
                   "temperature": 0.0, "avg_logprob": -0.25, "compression_ratio": 1.0, "no_speech_prob": 0.01}
        answer = {"task": "transcribe", "language": form.get("language") or "english",
                  "duration": round(seconds, 2), "text": text, "segments": [segment], "usage": usage}
    return json.dumps(answer).encode()


class _Handler(QuietHandler):
    """Tracks its connection, so that stop() can close kept-alive ones (1,000 calls reuse them)."""

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.split("?", 1)[0].endswith(_TRANSCRIPTIONS):
            body = _form(self.headers.get("Content-Type", ""), raw)
        else:
            body = json.loads(raw) if raw else {}
        try:
            self.server.fake._serve(self, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its timeout fired); nothing to answer


class _Server(FakeHTTPServerBase):
    request_queue_size = 1024  # the default listen backlog of 5 resets bursts of concurrent connects


class FakeLLMServer(FakeHTTPServer):
    """Scriptable OpenAI/Anthropic/Gemini endpoint on 127.0.0.1; see the module docstring for api_base."""

    def __init__(self) -> None:
        super().__init__(_Handler, "fake-llm-server", server_class=_Server)
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Behaviour]] = {}
        self._defaults: dict[str, Behaviour] = {}
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._ids = itertools.count(1)
        self._stopping = threading.Event()

    def start(self) -> Self:
        self._stopping.clear()
        return super().start()

    def stop(self) -> None:
        """Stop at once: wakes hanging handlers and closes kept-alive connections so none is served later."""
        if self._server is None:
            return
        self._stopping.set()
        super().stop()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def api_base(self, dialect: Dialect) -> str:
        """What to pass as litellm ``api_base=`` for ``<dialect>/<model>``."""
        suffix = {"openai": "/v1", "anthropic": "", "gemini": "/v1beta"}[dialect]
        return self.url + suffix

    def script(self, model: str, *behaviours: Behaviour) -> None:
        """Queue behaviours for ``model``; each request consumes one."""
        with self._lock:
            self._scripts.setdefault(model, deque()).extend(behaviours)

    def default(self, model: str, behaviour: Behaviour) -> None:
        """What ``model`` does once its script is used up (instead of a default ``ok()``)."""
        with self._lock:
            self._defaults[model] = behaviour

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def count(self, model: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self._requests if model is None or r.model == model)

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._defaults.clear()
            self._requests.clear()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _serve(self, handler: _Handler, body: Any) -> None:
        at = time.monotonic()
        path = handler.path.split("?", 1)[0]
        speech = path.endswith(_TRANSCRIPTIONS)
        gemini = _GEMINI_PATH.search(path)
        dialect: Dialect
        if speech:
            dialect, model, streamed = "openai", str(body.get("model", "")), False
        elif gemini:
            dialect, model, streamed = "gemini", gemini["model"], gemini["action"] == "streamGenerateContent"
        elif path.endswith("/chat/completions"):
            dialect, model, streamed = "openai", str(body.get("model", "")), body.get("stream") is True
        elif path.endswith("/messages"):
            dialect, model, streamed = "anthropic", str(body.get("model", "")), body.get("stream") is True
        else:
            not_found = _error_body("openai", Error(404, message=f"No fake route for {path}"))
            handler.send_body(404, not_found, "application/json")
            return
        headers = {name.lower(): value for name, value in handler.headers.items()}
        with self._lock:
            self._requests.append(RecordedRequest(dialect, model, handler.path, headers, body, streamed, at))
            refusal = _refusal(body) if speech else None
            queue = self._scripts.get(model)
            behaviour = refusal or (queue.popleft() if queue else self._defaults.get(model, Ok()))
            rid = f"fake-{next(self._ids)}"
        if isinstance(behaviour, Hang):
            if self._stopping.wait(behaviour.seconds):
                handler.close_connection = True
                return
            behaviour = behaviour.then
        if isinstance(behaviour, Error):
            # Closed after an error: a client that raises without reading the body of a streamed
            # request (litellm does) leaves the connection in its pool, and httpx's next request once
            # deadlocked on the pool's lock while checking it (CI, test_stream_errors).
            extra = {"Connection": "close"}
            if behaviour.retry_after is not None:
                extra["Retry-After"] = f"{behaviour.retry_after:g}"
            handler.send_body(behaviour.status, _error_body(dialect, behaviour), "application/json", extra)
            handler.close_connection = True
            return
        if speech:
            handler.send_body(200, _transcription_ok(model, behaviour, body), "application/json")
            return
        answer = _Answer.resolve(behaviour, model, body)
        if dialect == "openai":
            payload = _openai_ok(model, answer, f"chatcmpl-{rid}", body, streamed)
        elif dialect == "anthropic":
            payload = _anthropic_ok(model, answer, f"msg_{rid}", streamed)
        else:
            payload = _gemini_ok(model, answer, rid, streamed)
        handler.send_body(200, payload, "text/event-stream" if streamed else "application/json")
