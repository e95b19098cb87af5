"""``GET /healthz``: 200 when the database, Redis and the object store answer, 503 naming what is down."""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from clipjury.db import ping_database
from clipjury.jobs import get_redis
from storage import get_store

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


def _check_database() -> None:
    ping_database()


def _check_redis() -> None:
    get_redis().ping()


def _check_storage() -> None:
    get_store().ping()


CHECKS = {"database": _check_database, "redis": _check_redis, "storage": _check_storage}


class Health(BaseModel):
    status: Literal["ok", "down"]
    checks: dict[str, Literal["ok", "down"]]
    down: list[str]


@router.get("/healthz", response_model=Health, responses={
    503: {"model": Health, "description": "Something is down: `down` names what."},
})
async def healthz() -> JSONResponse:
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            await run_in_threadpool(check)
            results[name] = "ok"
        except Exception as exc:  # any failure means "down"; the log says why
            log.warning("health check %s failed: %s", name, exc)
            results[name] = "down"
    down = [name for name, state in results.items() if state != "ok"]
    status = 503 if down else 200
    return JSONResponse({"status": "down" if down else "ok", "checks": results, "down": down}, status_code=status)
