"""Tables of the LLM gateway: provider chain, budget counters, call log, cache, prompts.

Money is stored as whole nano-dollars (1e-9 USD) in 64-bit integers, so sums are
exact and an atomic `UPDATE ... SET spent = spent + n` never drifts like floats do.
Prices are stored as the decimal text the admin typed (USD per million tokens).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, LargeBinary, Text, UniqueConstraint, literal_column
from sqlmodel import Field, SQLModel

from services.db.models.base import new_id, utcnow


class LLMDeployment(SQLModel, table=True):
    """One entry of the ordered provider chain."""

    __tablename__ = "llm_deployment"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=80, unique=True, index=True)
    model: str = Field(max_length=200)
    api_base: str = Field(default="", max_length=400)
    key_ref: str = Field(default="", max_length=120)  # a runtime setting key holding the API key
    enabled: bool = Field(default=True)
    position: int = Field(default=0, index=True)
    input_price: str = Field(default="", max_length=40)  # USD per 1M tokens; "" = from the cost map
    output_price: str = Field(default="", max_length=40)
    cached_input_price: str = Field(default="", max_length=40)
    consecutive_failures: int = Field(default=0)
    cooldown_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class LLMBudgetMonth(SQLModel, table=True):
    """Spent and reserved money of one calendar month (UTC). The limit lives in settings."""

    __tablename__ = "llm_budget_month"

    month: str = Field(primary_key=True, max_length=7)  # YYYY-MM
    spent_nanos: int = Field(default=0, sa_type=BigInteger)
    reserved_nanos: int = Field(default=0, sa_type=BigInteger)
    saved_nanos: int = Field(default=0, sa_type=BigInteger)


class LLMBudgetFeature(SQLModel, table=True):
    """Per-feature counters of a month, checked against the feature's allocation."""

    __tablename__ = "llm_budget_feature"

    month: str = Field(primary_key=True, max_length=7)
    feature: str = Field(primary_key=True, max_length=60)
    spent_nanos: int = Field(default=0, sa_type=BigInteger)
    reserved_nanos: int = Field(default=0, sa_type=BigInteger)


class LLMDailyUsage(SQLModel, table=True):
    __tablename__ = "llm_daily_usage"

    day: str = Field(primary_key=True, max_length=10)  # YYYY-MM-DD (UTC)
    calls: int = Field(default=0)
    spent_nanos: int = Field(default=0, sa_type=BigInteger)
    cost_alert_fired: bool = Field(default=False)


class LLMReservation(SQLModel, table=True):
    """Money held for a call in flight. A crashed process leaves its row behind; rows
    older than the longest possible call are released, so the budget is never lost."""

    __tablename__ = "llm_reservation"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    month: str = Field(max_length=7, index=True)
    feature: str = Field(max_length=60)
    amount_nanos: int = Field(sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class LLMBudgetAlert(SQLModel, table=True):
    """One row per (month, level): the unique key is what makes an alert fire once."""

    __tablename__ = "llm_budget_alert"
    __table_args__ = (UniqueConstraint("month", "level"),)

    id: int | None = Field(default=None, primary_key=True)
    month: str = Field(max_length=7, index=True)
    level: int
    spent_nanos: int = Field(sa_type=BigInteger)
    limit_nanos: int = Field(sa_type=BigInteger)
    fired_at: datetime = Field(default_factory=utcnow)


# The call log's text search (services.llm.call_log) over task_text, user_prompt, response and
# error_message joined by spaces, spelled the way PostgreSQL reports it back, so the drift check
# compares it equal to the index migration 0005 builds. Only PostgreSQL has it (pg_trgm).
_SEARCHED_TEXT_PG = ("((((((task_text || ' '::text) || user_prompt) || ' '::text) || response) || ' '::text) "
                     "|| error_message)")


class LLMCall(SQLModel, table=True):
    """One attempt (or cache/template/refusal outcome) of one gateway request."""

    __tablename__ = "llm_call"
    # The log page filters by one of these and pages by time, newest first.
    __table_args__ = (Index("ix_llm_call_feature_time", "feature", "created_at"),
                      Index("ix_llm_call_provider_time", "provider", "created_at"),
                      Index("ix_llm_call_status_time", "status", "created_at"),
                      Index("ix_llm_call_text_search", literal_column(_SEARCHED_TEXT_PG).label("searched_text"),
                            postgresql_using="gin", postgresql_ops={"searched_text": "gin_trgm_ops"},
                            ).ddl_if(dialect="postgresql"))

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    request_id: str = Field(max_length=32, index=True)
    attempt: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    user_id: int | None = Field(default=None, foreign_key="user.id", index=True, ondelete="SET NULL")
    feature: str = Field(default="", max_length=60, index=True)
    task: str = Field(default="", max_length=60)
    project: str = Field(default="", max_length=120, index=True)
    provider: str = Field(default="", max_length=80, index=True)
    model: str = Field(default="", max_length=200)
    system_prompt: str = Field(default="", sa_column=Column(Text, nullable=False))
    user_prompt: str = Field(default="", sa_column=Column(Text, nullable=False))
    response: str = Field(default="", sa_column=Column(Text, nullable=False))
    input_tokens: int = Field(default=0)
    output_tokens: int = Field(default=0)
    cached_tokens: int = Field(default=0)
    reasoning_tokens: int = Field(default=0)
    cost_nanos: int = Field(default=0, sa_type=BigInteger)
    saved_nanos: int = Field(default=0, sa_type=BigInteger)
    unpriced: bool = Field(default=False)
    latency_ms: int = Field(default=0)
    status: str = Field(default="ok", max_length=20, index=True)
    error_class: str = Field(default="", max_length=80)
    error_message: str = Field(default="", sa_column=Column(Text, nullable=False))
    content_purged: bool = Field(default=False)
    quality: int | None = None  # 0-100 from validation, when the feature validates its output
    validation: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))  # JSON
    template_id: int | None = Field(default=None, index=True)  # the learned template that answered
    task_text: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    context: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})


class LLMOutcome(SQLModel, table=True):
    """What became of an output: the draft was sent, the comment posted, the code kept.
    Cost per outcome and template learning both read it."""

    __tablename__ = "llm_outcome"
    __table_args__ = (UniqueConstraint("call_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(foreign_key="llm_call.id", index=True, ondelete="CASCADE", max_length=32)
    feature: str = Field(max_length=60)
    kind: str = Field(max_length=40)
    user_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    edit_ratio: float = Field(default=0.0)  # share of the output the user changed before accepting
    created_at: datetime = Field(default_factory=utcnow, index=True)


class LearnedTemplate(SQLModel, table=True):
    """An accepted, high-quality output kept with its request-specific values turned into
    {{placeholders}}, so a similar request is answered at no cost. The embedding is kept
    here too: the database is the source of truth and the vector index is rebuilt from it."""

    __tablename__ = "llm_learned_template"
    __table_args__ = (UniqueConstraint("feature", "content_hash"), Index("ix_llm_learned_match", "feature", "context"))

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    feature: str = Field(max_length=60, index=True)
    context: str = Field(default="", max_length=200)  # tech stack or channel; matching requires the same
    task_text: str = Field(sa_column=Column(Text, nullable=False))
    output: str = Field(sa_column=Column(Text, nullable=False))
    placeholders: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list
    embedding: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # float32 vector
    content_hash: str = Field(max_length=64)
    source_call_id: str | None = Field(default=None, max_length=32)
    source_provider: str = Field(default="", max_length=80)
    source_model: str = Field(default="", max_length=200)
    source_cost_nanos: int = Field(default=0, sa_type=BigInteger)  # what one use saves
    quality: int = Field(default=0)
    uses: int = Field(default=0)
    saved_nanos: int = Field(default=0, sa_type=BigInteger)
    demotions: int = Field(default=0)
    last_used_at: datetime | None = None
    enabled: bool = Field(default=True)
    created_by: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)


class LLMFeedback(SQLModel, table=True):
    __tablename__ = "llm_feedback"

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(foreign_key="llm_call.id", index=True, ondelete="CASCADE", max_length=32)
    user_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    rating: int
    comment: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class LLMCacheEntry(SQLModel, table=True):
    __tablename__ = "llm_cache"

    key: str = Field(primary_key=True, max_length=64)  # sha256 of model + messages + parameters
    model: str = Field(max_length=200)
    feature: str = Field(default="", max_length=60, index=True)
    response: str = Field(default="", sa_column=Column(Text, nullable=False))
    input_tokens: int = Field(default=0)
    output_tokens: int = Field(default=0)
    cost_nanos: int = Field(default=0, sa_type=BigInteger)  # what the original call cost
    hits: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class LLMFailureReport(SQLModel, table=True):
    __tablename__ = "llm_failure_report"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    request_id: str = Field(max_length=32, index=True)
    user_id: int | None = Field(default=None, foreign_key="user.id", index=True, ondelete="SET NULL")
    feature: str = Field(default="", max_length=60)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    markdown: str = Field(sa_column=Column(Text, nullable=False))


class PromptTemplateVersion(SQLModel, table=True):
    """Every saved version of an override; the newest per (feature, task, project) applies.
    project "" is the admin's global override; a reset is stored as a version too."""

    __tablename__ = "llm_prompt_version"
    __table_args__ = (UniqueConstraint("feature", "task", "project", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    feature: str = Field(max_length=60, index=True)
    task: str = Field(max_length=60)
    project: str = Field(default="", max_length=120)
    version: int
    system: str = Field(default="", sa_column=Column(Text, nullable=False))
    user: str = Field(default="", sa_column=Column(Text, nullable=False))
    is_reset: bool = Field(default=False)
    created_by: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
