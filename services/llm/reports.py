"""Failure reports: when every provider fails, what happened and what to do next."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from services.auth.errors import AccessDenied
from services.db import session_scope
from services.db.models import LLMFailureReport
from services.llm.calls import scrub
from services.llm.costs import format_usd
from services.llm.types import Attempt
from services.notifications import service as notifications

_ADVICE = {
    "network": ("Network", "The providers could not be reached. Check this machine's internet connection, proxy "
                "and firewall, and the providers' status pages. A local model (Ollama) at the end of the chain "
                "keeps features answering while offline."),
    "timeout": ("Timeouts", "Providers did not answer in time. Raise `llm.timeout_seconds`, shorten the input or "
                "lower max tokens, or move a faster model up the chain."),
    "rate_limit": ("Rate limits", "Providers refused with 429 (rate limit or quota). Lower concurrency, raise the "
                   "quota with the provider, increase the backoff base, or add another provider to the chain."),
    "server": ("Provider errors", "Providers returned server errors (5xx): usually an outage on their side. "
               "Retry later; the failing provider cools down automatically."),
    "auth": ("Authentication", "A provider refused the API key (401/403). Set a valid key in Settings or with "
             "`python -m services.cli llm provider add --api-key`."),
    "invalid": ("Validation", "A provider refused the request as invalid (400/404/422): check the model id, "
                "shorten the prompt (context window) and lower max tokens."),
    "other": ("Unexpected errors", "An unexpected error occurred; the call log has the full error of each attempt."),
}


def render(*, request_id: str, feature: str, task: str, started: datetime, attempts: list[Attempt],
           final_error: str) -> str:
    total_ms = sum(a.latency_ms for a in attempts)
    lines = [
        f"# LLM request failed: {feature}/{task}",
        "",
        f"- Request: `{request_id}`",
        f"- Started: {started:%Y-%m-%d %H:%M:%S} UTC",
        f"- Attempts: {len(attempts)} across {len({a.provider for a in attempts})} provider(s), "
        f"{total_ms / 1000:.1f} s in calls",
        f"- Cost: {format_usd(sum(a.cost_nanos for a in attempts))}",
        "",
        "## Attempts",
        "",
        "| # | Provider | Model | Try | Duration | Kind | Error |",
        "|---|---|---|---|---|---|---|",
    ]
    for index, a in enumerate(attempts, start=1):
        error = scrub(f"{a.error_class}: {a.error}").replace("|", "\\|").replace("\n", " ")[:300]
        lines.append(f"| {index} | {a.provider} | {a.model} | {a.number} | {a.latency_ms} ms | {a.kind} | {error} |")
    lines += ["", "## Final error", "", scrub(final_error), "", "## Recommendations", ""]
    kinds = Counter(a.kind for a in attempts)
    for kind, _count in kinds.most_common():
        title, advice = _ADVICE.get(kind, _ADVICE["other"])
        lines.append(f"- **{title}** ({kinds[kind]} of {len(attempts)} attempts): {advice}")
    if not attempts:
        lines.append("- No provider could be tried: enable one, or give it an API key.")
    lines += ["", "## Next steps", "",
              "1. Run `python -m services.cli llm test` to check every provider.",
              "2. Look up this request in the call log (`python -m services.cli llm calls --last 20 --json`).",
              "3. Retry the action; cached and successful results are not charged twice."]
    return "\n".join(lines) + "\n"


def save(*, request_id: str, user_id: int | None, feature: str, markdown: str) -> str:
    with session_scope() as session:
        row = LLMFailureReport(request_id=request_id, user_id=user_id, feature=feature, markdown=markdown)
        session.add(row)
        report_id = row.id
    if user_id is not None:
        notifications.notify(user_id, f"An AI request failed ({feature})", kind="llm_failure",
                             body="Every provider failed. The report lists the attempts and what to do.",
                             link=download_path(report_id))
    return report_id


def download_path(report_id: str) -> str:
    return f"/api/llm/reports/{report_id}"


def read(report_id: str, *, user_id: int, is_admin: bool) -> str:
    """The report's markdown for its owner or an admin."""
    with session_scope() as session:
        row = session.get(LLMFailureReport, report_id)
    if row is None or (row.user_id != user_id and not is_admin):
        raise AccessDenied("No such report.")
    return row.markdown
