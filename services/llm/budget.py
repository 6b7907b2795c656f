"""Monthly budget with atomic reservations, feature allocations, daily limits and alerts.

A call first reserves its worst-case cost with a conditional UPDATE
(`... WHERE spent + reserved + amount <= limit`). The database applies these one at a
time on the row (SQLite's write lock, PostgreSQL's row lock with re-evaluation), so no
number of concurrent calls, in any number of processes, can promise more than the limit.
After the call the reservation is settled to the real cost in the same transaction that
writes the call log, so the ledger and the log always agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from services.auth import users
from services.db import connection_scope, session_scope
from services.db.models import (
    LLMBudgetAlert,
    LLMBudgetFeature,
    LLMBudgetMonth,
    LLMCall,
    LLMDailyUsage,
    LLMReservation,
)
from services.db.models.base import new_id, utcnow
from services.db.upsert import insert_ignore
from services.llm.config import GatewayConfig
from services.llm.costs import format_usd
from services.notifications import service as notifications

log = logging.getLogger(__name__)

COSTS_LINK = "/admin/llm/costs"


def month_key(now: datetime) -> str:
    return now.strftime("%Y-%m")


def day_key(now: datetime) -> str:
    return now.strftime("%Y-%m-%d")


class BudgetRefused(Exception):
    """The call may not run; `reason` is monthly, feature or daily_calls."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Reservation:
    id: str
    month: str
    day: str
    feature: str
    amount_nanos: int
    allocated: bool  # counted against a feature allocation


# Prebuilt statements: the hot path only binds values (see db.connection_scope).
_DAY, _MONTH, _FEATURE, _HELD = (LLMDailyUsage.__table__, LLMBudgetMonth.__table__,  # type: ignore[attr-defined]
                                 LLMBudgetFeature.__table__, LLMReservation.__table__)  # type: ignore[attr-defined]
_COUNT_CALL = update(_DAY).where(_DAY.c.day == bindparam("b_day")).values(calls=_DAY.c.calls + 1)
_COUNT_CALL_LIMITED = _COUNT_CALL.where(_DAY.c.calls < bindparam("limit"))
_HOLD_MONTH = (
    update(_MONTH)
    .where(_MONTH.c.month == bindparam("b_month"))
    .where(_MONTH.c.spent_nanos + _MONTH.c.reserved_nanos + bindparam("amount") <= bindparam("limit"))
    .values(reserved_nanos=_MONTH.c.reserved_nanos + bindparam("amount"))
)
_HOLD_FEATURE = (
    update(_FEATURE)
    .where(_FEATURE.c.month == bindparam("b_month"), _FEATURE.c.feature == bindparam("b_feature"))
    .where(_FEATURE.c.spent_nanos + _FEATURE.c.reserved_nanos + bindparam("amount") <= bindparam("limit"))
    .values(reserved_nanos=_FEATURE.c.reserved_nanos + bindparam("amount"))
)
_ADD_HELD = insert(_HELD)
_DROP_HELD = delete(_HELD).where(_HELD.c.id == bindparam("rid"))
_ONE_FEATURE = (_FEATURE.c.month == bindparam("b_month")) & (_FEATURE.c.feature == bindparam("b_feature"))
# Settling frees what was held (0 when the hold was already released) and adds the cost.
_SETTLE_MONTH = (update(_MONTH).where(_MONTH.c.month == bindparam("b_month"))
                 .values(reserved_nanos=_MONTH.c.reserved_nanos - bindparam("freed"),
                         spent_nanos=_MONTH.c.spent_nanos + bindparam("cost"))
                 .returning(_MONTH.c.spent_nanos))
_SETTLE_FEATURE = (update(_FEATURE).where(_ONE_FEATURE)
                   .values(reserved_nanos=_FEATURE.c.reserved_nanos - bindparam("freed"),
                           spent_nanos=_FEATURE.c.spent_nanos + bindparam("cost")))
_SPEND_DAY = (update(_DAY).where(_DAY.c.day == bindparam("b_day"))
              .values(spent_nanos=_DAY.c.spent_nanos + bindparam("cost")).returning(_DAY.c.spent_nanos))
_SAVE_MONTH = (update(_MONTH).where(_MONTH.c.month == bindparam("b_month"))
               .values(saved_nanos=_MONTH.c.saved_nanos + bindparam("saved")))


def _bump(conn: Connection, stmt, params: dict, model: type, key: dict) -> bool:
    """Runs a conditional UPDATE; creates the counter row first when it does not exist yet
    (a zero-row UPDATE already holds SQLite's write lock, so this never deadlocks)."""
    if conn.execute(stmt, params).rowcount:
        return True
    table = model.__table__  # type: ignore[attr-defined]
    exists = conn.execute(select(func.count()).select_from(table).where(
        *(table.c[name] == value for name, value in key.items()))).scalar_one()
    if exists:
        return False
    insert_ignore(conn, model, key, list(key))
    return bool(conn.execute(stmt, params).rowcount)


def reserve(cfg: GatewayConfig, feature: str, amount_nanos: int, now: datetime | None = None) -> Reservation:
    """Holds `amount_nanos` of this month's budget (and counts one provider call today),
    or raises BudgetRefused without holding anything."""
    now = now or utcnow()
    month, day = month_key(now), day_key(now)
    allocation = cfg.allocations_nanos.get(feature)
    with connection_scope(durable=False) as conn:
        counted = (_bump(conn, _COUNT_CALL_LIMITED, {"b_day": day, "limit": cfg.daily_call_limit}, LLMDailyUsage,
                         {"day": day}) if cfg.daily_call_limit
                   else _bump(conn, _COUNT_CALL, {"b_day": day}, LLMDailyUsage, {"day": day}))
        if not counted:
            raise BudgetRefused("daily_calls", f"The daily limit of {cfg.daily_call_limit} LLM calls is reached; "
                                               "it resets at midnight UTC.")
        held = {"b_month": month, "amount": amount_nanos, "limit": cfg.monthly_budget_nanos}
        if not _bump(conn, _HOLD_MONTH, held, LLMBudgetMonth, {"month": month}):
            raise BudgetRefused("monthly", f"Monthly LLM budget reached ({format_usd(cfg.monthly_budget_nanos)}): "
                                           "provider calls are paused until next month or until an admin raises it.")
        if allocation is not None and not _bump(
                conn, _HOLD_FEATURE, {**held, "b_feature": feature, "limit": allocation}, LLMBudgetFeature,
                {"month": month, "feature": feature}):
            raise BudgetRefused("feature", f"The LLM budget for {feature} ({format_usd(allocation)}) is used up "
                                           "this month.")
        reservation = Reservation(new_id(), month, day, feature, amount_nanos, allocation is not None)
        conn.execute(_ADD_HELD, {"id": reservation.id, "month": month,
                                 "feature": feature if reservation.allocated else "",
                                 "amount_nanos": amount_nanos, "created_at": now})
    return reservation


@dataclass(frozen=True)
class Settled:
    month: str
    day: str
    month_spent_nanos: int
    day_spent_nanos: int


def settle(conn: Connection, reservation: Reservation, actual_nanos: int) -> Settled:
    """Turns a reservation into the real cost, inside the caller's transaction (which also
    writes the call log). A failed attempt settles at 0.

    Rows are locked in the same order as `reserve` (day, month, feature): two processes
    taking them in opposite orders would deadlock on PostgreSQL."""
    feature = reservation.feature if reservation.allocated else ""
    # The reservation row is the token: whoever deletes it frees the money, exactly once.
    held = conn.execute(_DROP_HELD, {"rid": reservation.id}).rowcount
    freed = reservation.amount_nanos if held else 0
    day_spent = conn.execute(_SPEND_DAY, {"b_day": reservation.day, "cost": actual_nanos}).scalar_one()
    spent = conn.execute(_SETTLE_MONTH, {"b_month": reservation.month, "cost": actual_nanos,
                                         "freed": freed}).scalar_one()
    if feature:
        conn.execute(_SETTLE_FEATURE, {"b_month": reservation.month, "b_feature": feature, "cost": actual_nanos,
                                       "freed": freed})
    if actual_nanos > reservation.amount_nanos:
        log.warning("LLM call cost %s, more than the %s reserved for it", format_usd(actual_nanos),
                    format_usd(reservation.amount_nanos))
    return Settled(reservation.month, reservation.day, spent, day_spent)


def record_saving(conn: Connection, month: str, saved_nanos: int) -> None:
    if not conn.execute(_SAVE_MONTH, {"b_month": month, "saved": saved_nanos}).rowcount:
        insert_ignore(conn, LLMBudgetMonth, {"month": month, "saved_nanos": saved_nanos}, ["month"])


def release_stale(older_than: timedelta, now: datetime | None = None) -> int:
    """Frees reservations whose call can no longer be running (its process died)."""
    cutoff = (now or utcnow()) - older_than
    with session_scope() as session:
        stale = session.exec(select(LLMReservation).where(col(LLMReservation.created_at) < cutoff)).all()
        stale = [(r.id, r.month, r.feature, r.amount_nanos) for r in stale]
    freed = 0
    for reservation_id, month, feature, amount in stale:
        with connection_scope() as conn:
            if not conn.execute(_DROP_HELD, {"rid": reservation_id}).rowcount:
                continue  # settled or released meanwhile
            conn.execute(_SETTLE_MONTH, {"b_month": month, "cost": 0, "freed": amount})
            if feature:
                conn.execute(_SETTLE_FEATURE, {"b_month": month, "b_feature": feature, "cost": 0, "freed": amount})
            freed += 1
    if freed:
        log.warning("Released %d LLM budget reservation(s) left by calls that never finished", freed)
    return freed


# Levels known to have fired, so the common case costs no query.
_fired: set[tuple[str, int]] = set()


def forget_fired_alerts() -> None:
    """For a process that switches databases (tests)."""
    _fired.clear()


def _notify_admins(title: str, body: str) -> None:
    for admin_id in users.active_admin_ids():
        notifications.notify(admin_id, title, body=body, kind="budget", link=COSTS_LINK)


def _fire(month: str, level: int, spent: int, limit: int) -> bool:
    """Records and announces one alert level; the unique (month, level) row makes it once-only
    across processes."""
    if (month, level) in _fired:
        return False
    try:
        with session_scope() as session:
            session.add(LLMBudgetAlert(month=month, level=level, spent_nanos=spent, limit_nanos=limit))
    except IntegrityError:
        _fired.add((month, level))
        return False
    _fired.add((month, level))
    title = f"LLM budget: {level}% of {format_usd(limit)} used in {month}"
    body = f"Spent {format_usd(spent)} of the {format_usd(limit)} monthly budget."
    if level >= 100:
        body += " Provider calls are refused until next month or until the budget is raised."
    log.warning("LLM budget alert: %s%% of %s used in %s (%s spent)", level, format_usd(limit), month,
                format_usd(spent))
    _notify_admins(title, body)
    return True


def check_alerts(cfg: GatewayConfig, settled: Settled) -> list[int]:
    """Fires every configured level the month's spending has reached."""
    limit = cfg.monthly_budget_nanos
    fired = []
    for level in cfg.alert_levels:
        if limit and settled.month_spent_nanos * 100 >= level * limit and _fire(
                settled.month, level, settled.month_spent_nanos, limit):
            fired.append(level)
    if cfg.daily_cost_alert_nanos and settled.day_spent_nanos >= cfg.daily_cost_alert_nanos:
        _daily_alert(cfg, settled)
    return fired


def _daily_alert(cfg: GatewayConfig, settled: Settled) -> None:
    with session_scope() as session:
        won = session.exec(update(LLMDailyUsage).where(col(LLMDailyUsage.day) == settled.day,
                                                       col(LLMDailyUsage.cost_alert_fired).is_(False))
                           .values(cost_alert_fired=True)).rowcount  # type: ignore[call-overload]
    if won:
        log.warning("LLM daily cost alert: %s spent today (alert at %s)", format_usd(settled.day_spent_nanos),
                    format_usd(cfg.daily_cost_alert_nanos))
        _notify_admins(f"LLM spending today passed {format_usd(cfg.daily_cost_alert_nanos)}",
                       f"{format_usd(settled.day_spent_nanos)} spent today.")


def on_refused(cfg: GatewayConfig, refusal: BudgetRefused, now: datetime | None = None) -> None:
    """A refusal by the monthly budget means the budget is reached: that is the 100% alert."""
    if refusal.reason == "monthly" and 100 in cfg.alert_levels:
        month = month_key(now or utcnow())
        with session_scope() as session:
            row = session.get(LLMBudgetMonth, month)
            spent = row.spent_nanos if row else 0
        _fire(month, 100, spent, cfg.monthly_budget_nanos)


@dataclass(frozen=True)
class MonthUsage:
    month: str
    limit_nanos: int
    spent_nanos: int
    reserved_nanos: int
    saved_nanos: int
    alerts: list[int]

    @property
    def remaining_nanos(self) -> int:
        return max(0, self.limit_nanos - self.spent_nanos - self.reserved_nanos)


def month_usage(cfg: GatewayConfig, now: datetime | None = None) -> MonthUsage:
    month = month_key(now or utcnow())
    with session_scope() as session:
        row = session.get(LLMBudgetMonth, month)
        alerts = session.exec(select(LLMBudgetAlert.level).where(LLMBudgetAlert.month == month)
                              .order_by(col(LLMBudgetAlert.level))).all()
    return MonthUsage(month, cfg.monthly_budget_nanos, row.spent_nanos if row else 0,
                      row.reserved_nanos if row else 0, row.saved_nanos if row else 0, list(alerts))


def month_bounds(month: str) -> tuple[datetime, datetime]:
    start = datetime.strptime(month + "-01", "%Y-%m-%d").replace(tzinfo=utcnow().tzinfo)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def month_breakdown(month: str, column: str) -> dict[str, dict[str, int]]:
    """Calls and cost of a month grouped by a call-log column (provider, feature, model...)."""
    start, end = month_bounds(month)
    group = getattr(LLMCall, column)
    with session_scope() as session:
        rows = session.exec(
            select(group, func.count(), func.coalesce(func.sum(LLMCall.cost_nanos), 0))
            .where(col(LLMCall.created_at) >= start, col(LLMCall.created_at) < end)
            .group_by(group)
        ).all()
    return {str(key or "-"): {"calls": int(calls), "cost_nanos": int(cost)} for key, calls, cost in rows}
