"""All table models; importing this package registers them on SQLModel.metadata."""

from services.db.models.auth import ApiToken, AuthSession, Role, User
from services.db.models.docs import (
    DocChunk,
    DocDocument,
    DocQuestion,
    DocSource,
    DocSymbol,
)
from services.db.models.inbox import (
    InboxAccount,
    InboxDraft,
    InboxEvent,
    InboxMessage,
    InboxOAuthState,
    InboxStyle,
)
from services.db.models.jira import (
    JiraComment,
    JiraCommentDraft,
    JiraConnection,
    JiraFilter,
    JiraFilterIssue,
    JiraIssue,
    JiraStatusChange,
    JiraTracked,
)
from services.db.models.jobs import JobRun, JobStatus
from services.db.models.llm import (
    LearnedTemplate,
    LLMBudgetAlert,
    LLMBudgetFeature,
    LLMBudgetMonth,
    LLMCacheEntry,
    LLMCall,
    LLMDailyUsage,
    LLMDeployment,
    LLMFailureReport,
    LLMFeedback,
    LLMOutcome,
    LLMReservation,
    PromptTemplateVersion,
)
from services.db.models.notifications import Notification
from services.db.models.settings import Setting

__all__ = [
    "ApiToken",
    "AuthSession",
    "DocChunk",
    "DocDocument",
    "DocQuestion",
    "DocSource",
    "DocSymbol",
    "InboxAccount",
    "InboxDraft",
    "InboxEvent",
    "InboxMessage",
    "InboxOAuthState",
    "InboxStyle",
    "JiraComment",
    "JiraCommentDraft",
    "JiraConnection",
    "JiraFilter",
    "JiraFilterIssue",
    "JiraIssue",
    "JiraStatusChange",
    "JiraTracked",
    "JobRun",
    "JobStatus",
    "LLMBudgetAlert",
    "LLMBudgetFeature",
    "LLMBudgetMonth",
    "LLMCacheEntry",
    "LLMCall",
    "LLMDailyUsage",
    "LLMDeployment",
    "LLMFailureReport",
    "LLMFeedback",
    "LLMOutcome",
    "LLMReservation",
    "LearnedTemplate",
    "PromptTemplateVersion",
    "Notification",
    "Role",
    "Setting",
    "User",
]
