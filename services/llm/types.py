"""What features hand to the gateway and what they get back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from services.llm.messages import UntrustedText


class CallStatus(StrEnum):
    ok = "ok"
    failed = "failed"
    cache = "cache"
    template = "template"
    refused_budget = "refused_budget"
    offline = "offline"
    dry_run = "dry_run"


@dataclass
class LLMRequest:
    """One logical request. `variables` fill the (feature, task) prompt template;
    `untrusted` content (mails, documents, web pages) is passed as delimited data."""

    feature: str
    variables: dict[str, object] = field(default_factory=dict)
    task: str = "complete"
    template: str = ""  # "feature/task" of the prompt template when it is not the request's own
    project: str = ""
    user_id: int | None = None
    untrusted: tuple[UntrustedText, ...] = ()
    history: tuple[dict, ...] = ()  # earlier chat turns, OpenAI-style
    max_tokens: int = 1024
    temperature: float | None = None
    use_cache: bool = True
    dry_run: bool = False
    # What the user asked for in their words, and its context (tech stack, channel): learned
    # templates are matched on these. Empty task_text: this request is never answered from one.
    task_text: str = ""
    context: str = ""
    use_templates: bool = True  # False: a provider answers (a regeneration), which may still be learned
    # (system, user) sent as they are, instead of rendering the feature's template (re-runs of a logged call).
    prompts: tuple[str, str] | None = None
    provider: str = ""  # only this deployment (re-run with another provider)
    avoid_providers: tuple[str, ...] = ()  # not these, unless nothing else is usable (second opinions)
    # The feature's own answer when no provider may be called (budget reached, offline).
    fallback: Callable[[], str] | None = None


@dataclass(frozen=True)
class Attempt:
    provider: str
    model: str
    number: int
    status: str
    latency_ms: int
    error_class: str = ""
    error: str = ""
    kind: str = ""  # failure kind: rate_limit, timeout, network, server, auth, invalid, other
    cost_nanos: int = 0


@dataclass(frozen=True)
class LLMResult:
    text: str
    status: CallStatus
    request_id: str
    call_id: str  # the log row feedback attaches to
    provider: str = ""
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_nanos: int = 0
    saved_nanos: int = 0
    unpriced: bool = False
    attempts: tuple[Attempt, ...] = ()
    notice: str = ""  # shown to the user when the answer is a fallback or a learned template
    template_id: int | None = None

    @property
    def source(self) -> str:
        """Where the text came from: provider, cache, template, fallback or dry_run."""
        if self.status == CallStatus.ok:
            return "provider"
        if self.status in (CallStatus.cache, CallStatus.template, CallStatus.dry_run):
            return self.status.value
        return "fallback"


@dataclass(frozen=True)
class TranscriptionRequest:
    """Speech to text. Providers bill it by the second of audio, so `seconds` (the WAV's
    length) prices the call before it is made."""

    feature: str
    audio: bytes  # a WAV file
    seconds: float
    user_id: int | None = None
    language: str = ""  # an ISO-639-1 hint such as "en"; empty: the model detects it
    provider: str = ""  # one deployment of the chain; empty: every OpenAI-compatible one, in order
    model: str = "whisper-1"  # the transcription model on that deployment's endpoint
    usd_per_minute: Decimal | None = None  # the admin's price; None: litellm's cost map
    dry_run: bool = False


@dataclass(frozen=True)
class TranscriptionResult:
    text: str  # the transcript when status is ok; a dry run describes the call instead
    status: CallStatus
    cost_nanos: int
    call_id: str
    provider: str = ""
    model: str = ""


class LLMError(Exception):
    """Base of the errors a feature shows to its user; the message is written for them."""

    def __init__(self, message: str, *, request_id: str = "", report_id: str = "") -> None:
        super().__init__(message)
        self.request_id = request_id
        self.report_id = report_id


class BudgetExceeded(LLMError):
    pass


class LLMUnavailable(LLMError):
    """No provider is configured or usable (offline)."""


class AllProvidersFailed(LLMError):
    pass
