"""The unified inbox: accounts, sync, drafts and sending of mail and Slack messages."""
