"""Outlook / Microsoft 365 mail as a unified-inbox source, through Microsoft Graph."""
