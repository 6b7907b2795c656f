"""Gmail as a source of the unified inbox, through google-api-python-client."""
