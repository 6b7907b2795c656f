"""Jobs: the user's background work with live progress, cancel, retry and downloads."""

import reflex as rx

from components.common.widgets import data_table, error_callout, status_badge
from components.layout import app_shell
from llmcoder_app import routes
from state.jobs import POLL_MS, JobRow, JobsState
from state.shell import ShellState


def _actions(job: JobRow) -> rx.Component:
    return rx.hstack(
        rx.cond(
            job.active,
            rx.button("Cancel", size="1", variant="soft", color_scheme="orange",
                      on_click=JobsState.cancel(job.id), id="job-cancel-" + job.id),
        ),
        rx.cond(
            (job.status == "failed") | (job.status == "cancelled"),
            rx.button("Retry", size="1", variant="soft", on_click=JobsState.retry(job.id),
                      id="job-retry-" + job.id),
        ),
        rx.cond(
            job.has_file,
            rx.button(rx.icon("download", size=14), "Download", size="1",
                      on_click=JobsState.download(job.id), class_name="job-download"),
        ),
        spacing="2",
    )


def _row(job: JobRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(rx.text(job.title, weight="medium"),
                                rx.text(job.owner, size="1", color=rx.color("gray", 10),
                                        display=rx.cond(JobsState.show_all, "block", "none")),
                                spacing="0")),
        rx.table.cell(status_badge(job.status), class_name="job-status"),
        rx.table.cell(
            rx.vstack(
                rx.progress(value=job.progress, max=100, width="140px"),
                rx.text(job.progress, "%", size="1", class_name="job-progress"),
                spacing="1",
            )
        ),
        rx.table.cell(
            rx.vstack(
                rx.text(job.message, size="2"),
                rx.cond(job.error != "", rx.text(job.error, size="2", color="red", class_name="job-error")),
                rx.cond(
                    job.traceback != "",
                    rx.el.details(rx.el.summary("Traceback"),
                                  rx.code_block(job.traceback, language="python", wrap_long_lines=True)),
                ),
                spacing="1",
                align="start",
            )
        ),
        rx.table.cell(rx.text(job.created, size="1")),
        rx.table.cell(_actions(job)),
        class_name="job-row",
        data_status=job.status,
    )


@rx.page(route=routes.JOBS, title="Jobs · LLMCoder", on_load=[ShellState.load_shell, JobsState.load])
@app_shell("Jobs")
def jobs_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.button(rx.icon("package", size=16), "Export my data", on_click=JobsState.start_export,
                      id="start-export"),
            rx.spacer(),
            rx.cond(
                ShellState.is_admin,
                rx.hstack(rx.text("All users", size="2"),
                          rx.switch(checked=JobsState.show_all, on_change=JobsState.toggle_all, id="jobs-show-all")),
            ),
            width="100%",
            align="center",
        ),
        rx.text("The export collects your profile, sessions, tokens, notifications and jobs into a ZIP of JSON "
                "files. Progress updates live.", size="2", color=rx.color("gray", 11)),
        error_callout(JobsState.error, "jobs-error"),
        rx.cond(
            JobsState.jobs.length() > 0,
            data_table(
                ("Job", "Status", "Progress", "Details", "Started", ""),
                JobsState.jobs, _row,
                width="100%",
                id="jobs-table",
            ),
            rx.text("No jobs yet.", color=rx.color("gray", 10), id="jobs-empty"),
        ),
        rx.cond(JobsState.any_active, rx.moment(interval=POLL_MS, on_change=JobsState.refresh, display="none")),
        spacing="4",
        width="100%",
    )
