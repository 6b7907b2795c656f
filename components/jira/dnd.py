"""HTML5 drag and drop for Reflex: its `div` has no drag triggers, so this one adds them. A
drop zone must cancel `dragover` for the browser to allow a drop there; that runs in the
browser (`rx.prevent_default`) without a round trip per mouse move."""

from __future__ import annotations

import reflex as rx
from reflex.event import no_args_event_spec
from reflex_components_core.el.elements.typography import Div


class DragDiv(Div):
    on_drag_start: rx.EventHandler[no_args_event_spec]
    on_drag_end: rx.EventHandler[no_args_event_spec]
    on_drag_over: rx.EventHandler[no_args_event_spec]
    on_drop: rx.EventHandler[no_args_event_spec]


def draggable(*children: rx.Component, on_drag_start, **props) -> rx.Component:
    return DragDiv.create(*children, draggable=True, on_drag_start=on_drag_start, **props)


def drop_zone(*children: rx.Component, on_drop, **props) -> rx.Component:
    return DragDiv.create(*children, on_drag_over=rx.prevent_default, on_drop=[rx.prevent_default, on_drop],
                          **props)
