"""Admin LLM Costs page: the month's cost report, formatted from the same nano-dollar figures
`llm usage --json` prints, so the page and the CLI cannot disagree."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime
from typing import Any

import reflex as rx

from services.llm import usage
from services.llm.costs import format_usd
from state.formatting import when
from state.session import SessionState

# The headline figures: element id suffix -> the report's nano-dollar key.
MONEY = {"budget": "budget_nanos", "spent": "spent_nanos", "remaining": "remaining_nanos",
         "reserved": "reserved_nanos", "saved": "saved_nanos"}


@dataclasses.dataclass
class CostRow:
    key: str
    calls: int
    cost: str
    nanos: str  # exact, for the browser test to compare with the CLI


@dataclasses.dataclass
class AlertRow:
    level: int
    fired: str
    spent: str
    limit: str


@dataclasses.dataclass
class OutcomeCost:
    kind: str
    label: str
    outcomes: int
    spent: str
    per_outcome: str  # "no outcomes yet" when there are none
    nanos: str


def level_color(level: int) -> str:
    """Green below the first alert level, amber for the early levels, orange from 80 %, red at 100 %."""
    if level <= 0:
        return "green"
    if level < 80:
        return "amber"
    return "orange" if level < 100 else "red"


def _rows(breakdown: dict[str, dict[str, int]]) -> list[CostRow]:
    ordered = sorted(breakdown.items(), key=lambda item: (-item[1]["cost_nanos"], -item[1]["calls"], item[0]))
    return [CostRow(key, row["calls"], format_usd(row["cost_nanos"]), str(row["cost_nanos"])) for key, row in ordered]


def _outcome(item: dict[str, Any]) -> OutcomeCost:
    per = format_usd(item["per_outcome_nanos"]) if item["outcomes"] else "no outcomes yet"
    return OutcomeCost(item["kind"], item["label"], item["outcomes"], format_usd(item["cost_nanos"]), per,
                       str(item["per_outcome_nanos"]))


class CostsState(SessionState):
    month: str = ""
    money: dict[str, str] = {}
    nanos: dict[str, str] = {}
    percent: float = 0.0
    bar_value: int = 0  # the progress bar wants whole percents; any spending shows
    level: int = 0
    bar_color: str = "green"
    today_calls: int = 0
    today_cost: str = ""
    today_cost_nanos: str = "0"
    today_average: str = ""
    today_average_nanos: str = "0"
    by_model: list[CostRow] = []
    by_feature: list[CostRow] = []
    by_user: list[CostRow] = []
    by_project: list[CostRow] = []
    daily: list[dict[str, Any]] = []
    alerts: list[AlertRow] = []
    outcomes: list[OutcomeCost] = []

    @rx.event
    def load(self):
        """on_load and the Refresh button."""
        self._require_admin()
        report = usage.report()
        self.month = report["month"]
        self.money = {name: format_usd(report[key]) for name, key in MONEY.items()}
        self.nanos = {name: str(report[key]) for name, key in MONEY.items()}
        self.percent = report["percent_used"]
        self.bar_value = min(100, math.ceil(self.percent))
        self.level = report["level_reached"]
        self.bar_color = level_color(self.level)
        today = report["today"]
        self.today_calls = today["calls"]
        self.today_cost, self.today_cost_nanos = format_usd(today["cost_nanos"]), str(today["cost_nanos"])
        self.today_average, self.today_average_nanos = format_usd(today["average_nanos"]), str(today["average_nanos"])
        for name in ("by_model", "by_feature", "by_user", "by_project"):
            setattr(self, name, _rows(report[name]))
        # Charts plot floats; the exact figures are in the tables and headline.
        self.daily = [{"day": d["day"][5:], "cost_usd": d["cost_usd"], "calls": d["calls"]} for d in report["daily"]]
        self.alerts = [AlertRow(a["level"], when(datetime.fromisoformat(a["fired_at"])), format_usd(a["spent_nanos"]),
                                format_usd(a["limit_nanos"])) for a in report["alerts"]]
        self.outcomes = [_outcome(item) for item in report["cost_per_outcome"]]
