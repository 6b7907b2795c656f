"""Workstation capture, the app's side: paired devices, the websocket ingest, frame files,
retention, and the per-user read side of the Live page."""
