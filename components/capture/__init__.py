"""Workstation capture: the Devices page (pairing, paired workstations) and the Live page
(what the agent streams, turbo mode's suggestions)."""
