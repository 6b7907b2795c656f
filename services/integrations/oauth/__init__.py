"""Connecting Gmail and Outlook accounts: OAuth 2.0 authorization code + PKCE, refresh and revoke."""
