"""Slack as a unified-inbox source: the Web API client, Events API parsing and the app install."""
