"""JIRA Server/Data Center and Cloud as the ticket tracker of the JIRA board."""
