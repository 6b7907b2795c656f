"""One module per page; importing them registers the routes."""

from llmcoder_app.pages import (
    account,
    admin_llm_config,
    admin_llm_costs,
    admin_llm_learned,
    admin_llm_logs,
    admin_llm_prompts,
    admin_settings,
    admin_status,
    admin_users,
    assistant,
    auth,
    capture_devices,
    capture_live,
    docs_ask,
    docs_sources,
    home,
    inbox,
    inbox_accounts,
    jira_board,
    jira_new,
    jira_settings,
    jira_tracked,
    jobs,
    notifications,
)

__all__ = ["account", "admin_llm_config", "admin_llm_costs", "admin_llm_learned", "admin_llm_logs",
           "admin_llm_prompts", "admin_settings", "admin_status", "admin_users", "assistant", "auth", "capture_devices",
           "capture_live", "docs_ask", "docs_sources", "home", "inbox", "inbox_accounts", "jira_board", "jira_new",
           "jira_settings", "jira_tracked", "jobs", "notifications"]
