"""The application as served, plus one trivial endpoint: the reference the like benchmark compares with
(a constant JSON answer, no database, no Redis), served by the same process with the same middleware."""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app

CONSTANT = {"ok": True, "service": "clipjury"}


def create_bench_app() -> FastAPI:
    app = create_app()

    @app.get("/bench/constant", include_in_schema=False)
    def constant() -> dict[str, object]:
        return CONSTANT

    return app
