"""Resumable uploads (tus 1.0.0) at /api/v1/uploads and the raw PUT for scripts."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["uploads"])
