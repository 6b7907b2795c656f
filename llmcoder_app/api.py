"""HTTP routes beside the Reflex app: thin wrappers over services."""

from __future__ import annotations

from contextlib import suppress
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from capture_agent import protocol as capture_protocol
from llmcoder_app import routes
from services import health
from services.auth import api_tokens, sessions, tickets
from services.auth.errors import AccessDenied, AuthError, ValidationError
from services.capture import devices, ingest, live
from services.inbox import connect, slack_events
from services.integrations.base import IntegrationError
from services.jobs import downloads
from services.llm import reports
from services.settings import get_settings


async def health_endpoint(_request: Request) -> JSONResponse:
    report = health.report()
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)


async def job_download(request: Request):
    try:
        path, filename = downloads.resolve(
            request.path_params["job_id"],
            int(request.query_params.get("u", "0")),
            int(request.query_params.get("e", "0")),
            request.query_params.get("s", ""),
        )
    except ValueError:
        return JSONResponse({"error": "This download link is not valid."}, status_code=403)
    except downloads.DownloadRefused as exc:
        return JSONResponse({"error": str(exc)}, status_code=403)
    return FileResponse(path, filename=filename, media_type="application/zip")


async def llm_report_download(request: Request) -> Response:
    """A failure report, for the signed-in browser of its owner or an admin."""
    user = sessions.resolve(request.cookies.get(sessions.SESSION_COOKIE))
    if user is None:
        return JSONResponse({"error": "Please sign in."}, status_code=401)
    report_id = request.path_params["report_id"]
    try:
        markdown = reports.read(report_id, user_id=user.id, is_admin=user.is_admin)
    except AccessDenied:
        return JSONResponse({"error": "There is no such report."}, status_code=404)
    return Response(markdown, media_type="text/markdown; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="llm-failure-{report_id}.md"'})


def _bearer(headers) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def me(request: Request) -> JSONResponse:
    """Who a personal API/device token belongs to (the CLI and agent check their token here)."""
    user = api_tokens.resolve(_bearer(request.headers))
    if user is None:
        return JSONResponse({"error": "A valid API token is required."}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})
    return JSONResponse({"id": user.id, "email": user.email, "role": user.role})


async def capture_pair(request: Request) -> JSONResponse:
    """Redeems a pairing code for `llmcoder-capture pair`: the device's token, shown once."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not (isinstance(body, dict) and isinstance(body.get("code"), str) and isinstance(body.get("name"), str)
            and isinstance(body.get("platform", ""), str)):
        return JSONResponse({"error": "Send a JSON object with the code, name and platform strings."}, status_code=400)
    try:
        device_id, token = await run_in_threadpool(devices.pair, body["code"], body["name"], body.get("platform", ""),
                                                   client=request.client.host if request.client else "")
    except devices.TooManyAttempts as exc:
        return JSONResponse({"error": str(exc)}, status_code=429)
    except devices.PairingRefused as exc:
        return JSONResponse({"error": str(exc)}, status_code=403)
    except ValidationError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"device_id": device_id, "token": token, "ws_path": capture_protocol.WS_PATH},
                        status_code=201)


async def capture_socket(websocket: WebSocket) -> None:
    """The capture agents' event stream (services.capture.ingest)."""
    with suppress(WebSocketDisconnect):
        await ingest.serve(websocket, _bearer(websocket.headers))


async def capture_frame(request: Request) -> Response:
    """One of the signed-in user's screen frames (the Live page's image); 404 for anyone else."""
    user = sessions.resolve(request.cookies.get(sessions.SESSION_COOKIE))
    if user is None:
        return JSONResponse({"error": "Please sign in."}, status_code=401)
    try:
        path, media_type = await run_in_threadpool(live.frame_file, user.id, request.path_params["frame_id"])
    except LookupError:
        return JSONResponse({"error": "There is no such frame."}, status_code=404)
    return FileResponse(path, media_type=media_type,
                        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"})


def _to_frontend(path: str) -> RedirectResponse:
    """303 to a page of the app (the frontend may be on another port in dev mode)."""
    return RedirectResponse(routes.frontend_href(path), status_code=303)


async def session_from_ticket(request: Request) -> RedirectResponse:
    """Turns a sign-in ticket into the HttpOnly session cookie (see services.auth.tickets)."""
    token = tickets.redeem(request.query_params.get("ticket", ""))
    if token is None:
        return _to_frontend(f"{routes.LOGIN}?expired=1")
    response = _to_frontend(routes.HOME)
    response.set_cookie(
        sessions.SESSION_COOKIE, token, max_age=get_settings().session_days * 86400, path="/",
        httponly=True, samesite="strict", secure=request.url.scheme == "https",
    )
    return response


async def sign_out(request: Request) -> RedirectResponse:
    sessions.sign_out(request.cookies.get(sessions.SESSION_COOKIE))
    response = _to_frontend(routes.LOGIN)
    response.delete_cookie(sessions.SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def oauth_callback(request: Request) -> RedirectResponse:
    """Where Google, Microsoft and Slack send the browser back after consent."""
    user = sessions.resolve(request.cookies.get(sessions.SESSION_COOKIE))
    provider = request.path_params["provider"]
    try:
        account_id = await run_in_threadpool(connect.finish, user, provider, str(request.url))
    except (AuthError, IntegrationError) as exc:
        return _to_frontend(f"{routes.INBOX_ACCOUNTS}?{urlencode({'error': str(exc)})}")
    return _to_frontend(f"{routes.INBOX_ACCOUNTS}?{urlencode({'connected': account_id})}")


async def slack_webhook(request: Request) -> JSONResponse:
    """Slack Events API deliveries (signature checked in services.inbox.slack_events)."""
    status, answer = await run_in_threadpool(slack_events.handle, await request.body(), request.headers)
    return JSONResponse(answer, status_code=status)


api = Starlette(
    routes=[
        Route("/api/health", health_endpoint),
        Route("/api/jobs/{job_id}/download", job_download),
        Route("/api/me", me),
        Route("/api/llm/reports/{report_id}", llm_report_download),
        Route("/api/auth/session", session_from_ticket),
        Route("/api/auth/sign-out", sign_out),
        Route("/api/oauth/{provider}/callback", oauth_callback),
        Route("/api/webhooks/slack", slack_webhook, methods=["POST"]),
        Route(capture_protocol.PAIR_PATH, capture_pair, methods=["POST"]),
        WebSocketRoute(capture_protocol.WS_PATH, capture_socket),
        Route("/api/capture/frames/{frame_id:int}", capture_frame),
    ]
)
