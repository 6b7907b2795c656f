"""The month's LLM spending as one report: the admin's Costs page and `llm usage --json`
both render this dictionary, so their figures cannot disagree.

Money is reported in nano-dollars (exact integers) with a USD float beside it for reading.
"Calls" in breakdowns are call-log rows: provider attempts and cache/template answers.
The daily series comes from the budget's day counters (provider calls and their cost).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from services.db import session_scope
from services.db.models import LLMBudgetAlert, LLMCall, LLMDailyUsage, LLMOutcome, User
from services.db.models.base import utcnow
from services.llm import budget, config
from services.llm.outcomes import KINDS

DAYS = 30


def _usd(nanos: int) -> float:
    return nanos / 1e9


def _money(nanos: int) -> dict[str, Any]:
    return {"nanos": nanos, "usd": _usd(nanos)}


def level_reached(spent: int, limit: int, levels: tuple[int, ...]) -> int:
    """The highest alert level the spending has reached (0 below the first)."""
    if not limit:
        return 0
    return max((level for level in levels if spent * 100 >= level * limit), default=0)


def _by_user(month: str) -> dict[str, dict[str, int]]:
    start, end = budget.month_bounds(month)
    with session_scope() as session:
        rows = session.exec(
            select(User.email, func.count(), func.coalesce(func.sum(LLMCall.cost_nanos), 0))
            .select_from(LLMCall).join(User, col(User.id) == col(LLMCall.user_id), isouter=True)
            .where(col(LLMCall.created_at) >= start, col(LLMCall.created_at) < end)
            .group_by(User.email)
        ).all()
    return {str(email or "(system)"): {"calls": int(n), "cost_nanos": int(cost)} for email, n, cost in rows}


def _by_model(month: str) -> dict[str, dict[str, int]]:
    start, end = budget.month_bounds(month)
    with session_scope() as session:
        rows = session.exec(
            select(LLMCall.provider, LLMCall.model, func.count(), func.coalesce(func.sum(LLMCall.cost_nanos), 0))
            .where(col(LLMCall.created_at) >= start, col(LLMCall.created_at) < end)
            .group_by(LLMCall.provider, LLMCall.model)
        ).all()
    return {f"{provider or '-'} / {model or '-'}": {"calls": int(n), "cost_nanos": int(cost)}
            for provider, model, n, cost in rows}


def _daily(today: datetime) -> list[dict[str, Any]]:
    days = [(today - timedelta(days=offset)).strftime("%Y-%m-%d") for offset in range(DAYS - 1, -1, -1)]
    with session_scope() as session:
        rows = {r.day: r for r in session.exec(select(LLMDailyUsage).where(col(LLMDailyUsage.day).in_(days))).all()}
    return [{"day": day, "calls": rows[day].calls if day in rows else 0,
             "cost_nanos": rows[day].spent_nanos if day in rows else 0,
             "cost_usd": _usd(rows[day].spent_nanos) if day in rows else 0.0} for day in days]


def _alerts(month: str) -> list[dict[str, Any]]:
    with session_scope() as session:
        rows = session.exec(select(LLMBudgetAlert).where(LLMBudgetAlert.month == month)
                            .order_by(col(LLMBudgetAlert.level))).all()
    return [{"level": r.level, "fired_at": r.fired_at.isoformat(), "spent_nanos": r.spent_nanos,
             "spent_usd": _usd(r.spent_nanos), "limit_nanos": r.limit_nanos, "limit_usd": _usd(r.limit_nanos)}
            for r in rows]


def _per_outcome(month: str, by_feature: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """All of a feature's spending this month divided by its outcomes: what one accepted draft
    really costs, counting the drafts that were thrown away."""
    start, end = budget.month_bounds(month)
    with session_scope() as session:
        rows = session.exec(
            select(LLMOutcome.kind, LLMOutcome.feature, func.count())
            .where(col(LLMOutcome.created_at) >= start, col(LLMOutcome.created_at) < end)
            .group_by(LLMOutcome.kind, LLMOutcome.feature)
        ).all()
    counts: dict[str, tuple[int, set[str]]] = {}
    for kind, feature, n in rows:
        total, features = counts.get(kind, (0, set()))
        counts[kind] = (total + int(n), features | {feature})
    out = []
    for kind, label in KINDS.items():
        n, features = counts.get(kind, (0, set()))
        cost = sum(by_feature.get(f, {}).get("cost_nanos", 0) for f in features)
        out.append({"kind": kind, "label": label, "outcomes": n, "features": sorted(features), "cost_nanos": cost,
                    "per_outcome_nanos": cost // n if n else 0, "per_outcome_usd": _usd(cost // n) if n else 0.0})
    return out


def report(now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    cfg = config.load()
    month = budget.month_usage(cfg, now)
    by_feature = budget.month_breakdown(month.month, "feature")
    daily = _daily(now)
    today = daily[-1]
    return {
        "month": month.month,
        "budget_usd": _usd(month.limit_nanos),
        "budget_nanos": month.limit_nanos,
        "spent_usd": _usd(month.spent_nanos),
        "spent_nanos": month.spent_nanos,
        "reserved_usd": _usd(month.reserved_nanos),
        "reserved_nanos": month.reserved_nanos,
        "remaining_usd": _usd(month.remaining_nanos),
        "remaining_nanos": month.remaining_nanos,
        "saved_usd": _usd(month.saved_nanos),
        "saved_nanos": month.saved_nanos,
        "percent_used": round(100 * month.spent_nanos / month.limit_nanos, 2) if month.limit_nanos else 0.0,
        "alert_levels": list(cfg.alert_levels),
        "level_reached": level_reached(month.spent_nanos, month.limit_nanos, cfg.alert_levels),
        "alerts_fired": month.alerts,
        "alerts": _alerts(month.month),
        "today": {"calls": today["calls"], "cost_nanos": today["cost_nanos"], "cost_usd": today["cost_usd"],
                  "average_nanos": today["cost_nanos"] // today["calls"] if today["calls"] else 0,
                  "average_usd": _usd(today["cost_nanos"] // today["calls"]) if today["calls"] else 0.0},
        "by_provider": budget.month_breakdown(month.month, "provider"),
        "by_model": _by_model(month.month),
        "by_feature": by_feature,
        "by_user": _by_user(month.month),
        "by_project": budget.month_breakdown(month.month, "project"),
        "daily": daily,
        "cost_per_outcome": _per_outcome(month.month, by_feature),
    }
