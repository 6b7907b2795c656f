"""The JIRA board's components: board, ticket drawer, create form, settings."""
