"""Admin: health of the database, the job runner and its workers."""

import reflex as rx

from components.layout import app_shell
from llmcoder_app import routes
from state.shell import ShellState
from state.status import StatusState


def _kv(data, key: str, label: str) -> rx.Component:
    return rx.data_list.item(rx.data_list.label(label), rx.data_list.value(rx.text(data[key])))


@rx.page(route=routes.ADMIN_STATUS, title="Status · LLMCoder", on_load=[ShellState.load_shell, StatusState.load])
@app_shell("Status")
def status_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.badge(StatusState.overall, size="3", id="status-overall",
                     color_scheme=rx.cond(StatusState.overall == "ok", "green", "red")),
            rx.spacer(),
            rx.button(rx.icon("cpu", size=14), "Run worker check", variant="soft", on_click=StatusState.run_worker_check,
                      id="status-worker-check"),
            rx.button(rx.icon("refresh-cw", size=14), "Refresh", on_click=StatusState.load, id="status-refresh"),
            width="100%",
        ),
        rx.cond(StatusState.check_message != "",
                rx.callout(rx.hstack(rx.text(StatusState.check_message), rx.link("Jobs", href=routes.JOBS)),
                           icon="info", id="status-check-message", width="100%")),
        rx.grid(
            rx.card(rx.heading("Database", size="3"),
                    rx.data_list.root(_kv(StatusState.database, "backend", "Engine"),
                                      _kv(StatusState.database, "ok", "Reachable"),
                                      _kv(StatusState.database, "revision", "Schema revision"),
                                      _kv(StatusState.database, "error", "Error")),
                    id="status-database"),
            rx.card(rx.heading("Background jobs", size="3"),
                    rx.data_list.root(_kv(StatusState.jobs, "mode", "Runner"),
                                      _kv(StatusState.jobs, "ok", "Healthy"),
                                      _kv(StatusState.jobs, "error", "Problem")),
                    id="status-jobs"),
            columns="2",
            spacing="4",
            width="100%",
        ),
        rx.heading("Workers", size="3"),
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in ("Worker", "State", "Queues")])),
            rx.table.body(rx.foreach(StatusState.workers, lambda w: rx.table.row(
                rx.table.cell(w["name"]), rx.table.cell(w["state"]), rx.table.cell(w["queues"])))),
            width="100%",
            id="status-workers",
        ),
        rx.el.details(rx.el.summary("Raw report (same as /api/health)"), rx.code_block(StatusState.raw, language="json")),
        spacing="4",
        width="100%",
    )
