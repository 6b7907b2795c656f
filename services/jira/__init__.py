"""The JIRA board: use-case flows over a TicketTracker."""
