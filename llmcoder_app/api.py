"""HTTP routes beside the Reflex app: thin wrappers over services."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route

from services import health
from services.auth import api_tokens
from services.jobs import downloads


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


async def me(request: Request) -> JSONResponse:
    """Who a personal API/device token belongs to (the CLI and agent check their token here)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    user = api_tokens.resolve(token.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        return JSONResponse({"error": "A valid API token is required."}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})
    return JSONResponse({"id": user.id, "email": user.email, "role": user.role})


api = Starlette(
    routes=[
        Route("/api/health", health_endpoint),
        Route("/api/jobs/{job_id}/download", job_download),
        Route("/api/me", me),
    ]
)
