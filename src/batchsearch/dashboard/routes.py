"""Routes of the dashboard: its page at /ui and its assets at /ui/static/..., each with strict security headers.

The pages are static files; everything they show comes from the JSON API, called from the browser with the
API key the user signed in with (kept in sessionStorage, sent only as X-API-KEY). No server-side sessions.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, JSONResponse, Response

from batchsearch.config import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}


def content_security_policy(extra_connect: list[str]) -> str:
    """The page's policy: only its own scripts and styles (none inline), API calls to its own origin (and to the
    object store, where batch files are uploaded), no framing, no plugins."""
    connect = " ".join(["'self'", *extra_connect])
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "font-src 'self'",
        f"connect-src {connect}", "object-src 'none'", "base-uri 'none'", "form-action 'self'",
        "frame-ancestors 'none'",
    ])


AWS_S3_ORIGIN = "https://*.amazonaws.com"  # presigned URLs of AWS S3 itself (bucket.s3[.region].amazonaws.com)


def upload_origins(settings: Settings) -> list[str]:
    """Origins other than the page's that the browser PUTs batch files to: the public URL, the S3 endpoint."""
    urls = [settings.public_url]
    if settings.object_store_url and settings.object_store_url.startswith("s3://"):
        urls.append(settings.s3_endpoint_url or AWS_S3_ORIGIN)
    origins = set()
    for url in urls:
        if url == AWS_S3_ORIGIN:
            origins.add(url)
        elif url:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") and parts.netloc:
                origins.add(f"{parts.scheme}://{parts.netloc}")
    return sorted(origins)


def security_headers(settings: Settings) -> dict[str, str]:
    """Headers every /ui answer carries."""
    return {
        "Content-Security-Policy": content_security_policy(upload_origins(settings)),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": "no-cache",
    }


def static_file(root: Path, relative: str) -> Path | None:
    """The file `relative` names inside `root`, or None when it is missing, hidden or outside `root`."""
    if "\x00" in relative or "\\" in relative:
        return None
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root) or candidate == root:
        return None
    if any(part.startswith(".") for part in candidate.relative_to(root).parts):
        return None
    if not candidate.is_file() or candidate.suffix not in CONTENT_TYPES:
        return None
    return candidate


def build_router(settings: Settings, root: Path = STATIC_DIR) -> APIRouter:
    """The /ui routes, kept out of the OpenAPI schema (they are pages, not API)."""
    router = APIRouter(include_in_schema=False)
    headers = security_headers(settings)
    root = root.resolve()

    def page() -> Response:
        return FileResponse(root / "index.html", media_type=CONTENT_TYPES[".html"], headers=headers)

    def asset(path: str) -> Response:
        found = static_file(root, path)
        if found is None:
            body = {"statusCode": 404, "message": "Not Found", "errorCode": "NOT_FOUND", "errors": [{"message": "Not Found"}]}
            return JSONResponse(body, status_code=404, headers=headers)
        return FileResponse(found, media_type=CONTENT_TYPES[found.suffix], headers=headers)

    router.add_api_route("/ui", page, methods=["GET", "HEAD"])
    router.add_api_route("/ui/", page, methods=["GET", "HEAD"])
    router.add_api_route("/ui/static/{path:path}", asset, methods=["GET", "HEAD"])
    return router


def install_dashboard(app: FastAPI, settings: Settings) -> None:
    """Serve the dashboard at /ui on this app."""
    app.include_router(build_router(settings))
