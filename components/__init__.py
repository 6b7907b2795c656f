"""UI building blocks: functions returning rx.Component; they read state, never services."""
