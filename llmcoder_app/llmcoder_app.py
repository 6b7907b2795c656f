"""The Reflex app: pages, API routes, start-up, and how refusals reach the user."""

import logging

import reflex as rx

import llmcoder_app.pages  # noqa: F401  (registers every page)
from llmcoder_app.api import api
from services import startup
from services.auth.errors import AccessDenied
from services.jobs import scheduler
from state.session import access_denied_events

log = logging.getLogger("llmcoder.app")


def handle_backend_exception(exception: Exception):
    """Refusals become a toast and a redirect; anything else is logged with its traceback."""
    if isinstance(exception, AccessDenied):
        log.info("Refused: %s", exception)
        return access_denied_events(exception)
    log.error("Unhandled error in an event handler", exc_info=exception)
    return rx.toast.error(
        "Something went wrong on the server. The error was logged; try again or tell your admin.",
        id="server-error-toast",
    )


app = rx.App(
    api_transformer=api,
    backend_exception_handler=handle_backend_exception,
    head_components=[rx.el.link(rel="icon", type="image/svg+xml", href="/logo.svg")],
)
app.register_lifespan_task(startup.prepare)
app.register_lifespan_task(scheduler.start)
