"""A built export as an HTTP answer: the one conversion the API's and the pages' downloads share."""

from __future__ import annotations

from fastapi import Response

from clipjury.reports.exports import ExportFile


def file_response(export: ExportFile) -> Response:
    return Response(content=export.content, media_type=export.media_type, headers=export.headers())
