"""The public site as a FastAPI sub-app, mounted on the main application under /public: its own routes,
static files and error pages, none of the staff UI's login redirects."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from public_ui.pages import router as pages_router
from public_ui.web import PREFIX, STATIC_DIR, http_error


def create_public_app() -> FastAPI:
    public = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    public.add_exception_handler(StarletteHTTPException, http_error)
    public.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="public_static")
    public.include_router(pages_router)
    return public


def mount_public(app: FastAPI) -> None:
    # Mounted inside the main app, so the staff session middleware still reads a signed-in visitor's
    # cookie; the public pages never write to the session, so it never sets one.
    app.mount(PREFIX, create_public_app(), name="public")
