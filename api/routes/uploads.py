"""Resumable uploads (tus 1.0.0) at /api/v1/uploads and the raw PUT for scripts.

The routes stay thin: they translate tus headers and stream the body into
``clipjury.uploads.service.append``. Every tus response, errors included, carries ``Tus-Resumable``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Coroutine
from email.utils import format_datetime
from functools import partial as bind
from typing import Annotated, Any, TypeVar
from urllib.parse import unquote

import anyio.to_thread
from fastapi import APIRouter, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError
from starlette.requests import ClientDisconnect

from api.deps import CurrentUser, SessionDep, WorkId
from api.problems import (
    CHANGE_AUTH_ERRORS,
    REDIS_ERRORS,
    VALIDATION_ERRORS,
    ErrorDoc,
    domain_problem,
    problem,
    problem_responses,
    redis_problem,
)
from api.schemas.works import WorkPublic, work_public
from clipjury.campaigns.service import CampaignClosed, NoActiveCampaign, SubmissionClosed, SubmissionNotOpen
from clipjury.errors import DomainError
from clipjury.timeutil import as_utc
from clipjury.uploads import concat, service
from clipjury.uploads import tus as protocol
from clipjury.uploads.limits import DailyUploadQuota, TooManyPartials, TooManyUploads
from clipjury.uploads.locks import UploadLock
from clipjury.uploads.models import Concat, Upload, UploadStatus
from clipjury.works.policy import AlreadySubmitted, Disqualified, RoleCannotSubmit, UnderReview, WorkNotFound
from clipjury.works.service import get_own_work
from storage import get_store

T = TypeVar("T")
TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,expiration,concatenation,concatenation-unfinished"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"


class TusRoute(APIRoute):
    """Checks ``Tus-Resumable`` first and adds the tus headers to every answer, problems included."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def tus_handler(request: Request) -> Response:
            headers = {"Tus-Resumable": TUS_VERSION}
            try:
                if request.method != "OPTIONS" and request.headers.get("tus-resumable") != TUS_VERSION:
                    raise protocol.TusVersionUnsupported()
                response = await handler(request)
            except (DomainError, RedisError) as exc:
                response = _problem_of(exc)
            except RequestValidationError:
                response = problem(400, "bad_upload_request", "上传请求格式有误。", headers=headers)
            response.headers.update(headers)
            return response

        return tus_handler


def _problem_of(exc: DomainError | RedisError) -> Response:
    """The problem answer of an error met in a tus request, with the error's own tus headers."""
    if isinstance(exc, RedisError):
        return redis_problem(exc)
    return domain_problem(exc, dict(getattr(exc, "headers", {})))


# -- what the document says about the tus routes ------------------------------------------------------
# The routes read the tus headers themselves (their own error codes, Tus-Resumable first, 400 rather than
# 422 for a malformed one), so they are declared here for the document instead of as FastAPI parameters,
# which would validate them with FastAPI's codes.
DIGITS = r"^[0-9]{1,18}$"  # protocol.parse_length: ASCII digits, at most 18 of them
UPLOAD_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # secrets.token_urlsafe; anything else is an unknown upload


def _header(name: str, description: str, *, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "description": description,
            "schema": {"type": "string", **schema}}


def _answer_header(description: str, **schema: Any) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string", **schema}}


TUS_RESUMABLE = _header("Tus-Resumable", "The tus version: only 1.0.0 (else 412).", required=True, enum=[TUS_VERSION])
UploadId = Annotated[str, Path(json_schema_extra={"pattern": UPLOAD_ID_PATTERN})]
OFFSET_BODY = {"required": True, "content": {OFFSET_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}}}
_TUS_ANSWER_HEADERS = {
    "Tus-Resumable": _answer_header("Always 1.0.0.", enum=[TUS_VERSION]),
    "Upload-Offset": _answer_header("Bytes received so far (absent on an unfinished final).", pattern=DIGITS),
    "Upload-Length": _answer_header("The declared length.", pattern=DIGITS),
    "Upload-Expires": _answer_header("When an unfinished upload expires (RFC 9110 HTTP-date)."),
    "Upload-Concat": _answer_header("`partial`, or `final;` and the partials' URLs."),
}
# Every tus request, before its own checks.
_TUS_ERRORS: tuple[ErrorDoc, ...] = (
    *CHANGE_AUTH_ERRORS, *REDIS_ERRORS, protocol.TusVersionUnsupported, protocol.BadUploadRequest,
    (503, "storage_unavailable"),
)
_APPEND_ERRORS: tuple[ErrorDoc, ...] = (
    protocol.UploadNotFound, protocol.UploadGone, protocol.UploadBusy, protocol.OffsetMismatch,
    protocol.UploadLengthExceeded, protocol.TooLarge, protocol.EmptyUpload, protocol.IncompleteBody,
    protocol.UnsupportedContentType, protocol.TailRewound, (400, "invalid_content_length"),
    (400, "invalid_upload_offset"),
)
# Who may start an upload, and how many an account may have going (clipjury.uploads.limits).
_START_ERRORS: tuple[ErrorDoc, ...] = (RoleCannotSubmit, TooManyUploads, DailyUploadQuota)


tus = APIRouter(prefix="/api/v1/uploads", tags=["uploads"], route_class=TusRoute)
router = APIRouter(tags=["uploads"])


def _http_date(upload: Upload) -> str:
    return format_datetime(as_utc(upload.expires_at), usegmt=True)


def _upload_headers(upload: Upload) -> dict[str, str]:
    headers = {"Upload-Offset": str(service.current_offset(upload)), "Cache-Control": "no-store"}
    if upload.concat == Concat.final and upload.status != UploadStatus.complete:
        del headers["Upload-Offset"]  # tus: an unfinished final has no offset of its own
    if upload.length is not None:
        headers["Upload-Length"] = str(upload.length)
    if upload.status == UploadStatus.receiving:
        headers["Upload-Expires"] = _http_date(upload)
    concat_value = concat.concat_header(upload)
    if concat_value:
        headers["Upload-Concat"] = concat_value
    return headers


async def _body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise service.BodyInterrupted() from None


def _content_length(request: Request) -> int | None:
    return protocol.parse_length(request.headers.get("content-length"), "Content-Length")


async def _blocking(func: Callable[..., T], *args: Any) -> T:
    """Database and Redis calls of the ``async`` routes (they stream bodies) run in the threadpool: on the
    event loop, one slow query would hold every other request of this process."""
    return await anyio.to_thread.run_sync(bind(func, *args))


def _reload(session: SessionDep, upload_id: str) -> Upload:
    session.expire_all()
    upload = session.get(Upload, upload_id)
    assert upload is not None
    return upload


_OPTIONS_ANSWER: dict[int | str, dict[str, Any]] = {204: {"description": "What this server supports.", "headers": {
    "Tus-Version": _answer_header("Supported tus versions.", enum=[TUS_VERSION]),
    "Tus-Extension": _answer_header("Supported tus extensions.", enum=[TUS_EXTENSIONS]),
    "Tus-Max-Size": _answer_header("The largest file accepted, in bytes.", pattern=DIGITS),
}}}


@tus.options("", status_code=204, responses=_OPTIONS_ANSWER)
# Any id: a preflight tells the server's limits, it does not look the upload up.
@tus.options("/{upload_id}", status_code=204, responses=_OPTIONS_ANSWER,
             openapi_extra={"parameters": [{"name": "upload_id", "in": "path", "required": True,
                                            "schema": {"type": "string"}}]})
def tus_options(session: SessionDep) -> Response:
    # No login here: CORS preflights never carry credentials, and this only tells the public limit.
    limit = service.max_size(session)
    return Response(status_code=204, headers={
        "Tus-Version": TUS_VERSION, "Tus-Extension": TUS_EXTENSIONS, "Tus-Max-Size": str(limit),
    })


@tus.post("", status_code=201, responses={
    201: {"description": "Created; `Location` is the upload's URL.", "headers": {
        "Location": _answer_header("The upload's URL.", format="uri"), **_TUS_ANSWER_HEADERS,
    }},
    **problem_responses(
        *_TUS_ERRORS, *_APPEND_ERRORS, *_START_ERRORS, TooManyPartials, (422, "out_of_range"), WorkNotFound,
        NoActiveCampaign,
        SubmissionNotOpen, SubmissionClosed, CampaignClosed, AlreadySubmitted, UnderReview, Disqualified,
        (400, "defer_length_unsupported"), (400, "upload_length_required"), (400, "invalid_upload_length"),
        (400, "invalid_metadata"), (400, "work_id_required"), concat.InvalidConcat, concat.NotAPartial,
        concat.InvalidLayout, concat.WorkMismatch, concat.PartialNotFound, concat.PartialGone, concat.PartialUsed,
        concat.LayoutMismatch,
    ),
}, openapi_extra={
    "parameters": [
        TUS_RESUMABLE,
        _header("Upload-Length", "The file's size in bytes (not on a final, which takes the partials' sum).",
                pattern=DIGITS),
        _header("Upload-Metadata", "Comma-separated `key base64(value)` pairs: `work_id` (ASCII digits; required"
                " except on a partial) and `filename`.", pattern=r"^[\x21-\x7e]+( [A-Za-z0-9+/]*={0,2})?"
                r"(,[\x21-\x7e]+( [A-Za-z0-9+/]*={0,2})?)*$"),
        _header("Upload-Concat", "`partial`, or `final;` followed by the partials' URLs (space-separated).",
                pattern=r"^(partial|final;.+)$"),
    ],
    # creation-with-upload: the first bytes may come with the creation.
    "requestBody": {**OFFSET_BODY, "required": False},
})
async def tus_create(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    """tus creation (and creation-with-upload, concatenation). ``Upload-Defer-Length`` is not supported:
    refused with ``defer_length_unsupported``."""
    if request.headers.get("upload-defer-length") is not None:
        raise protocol.BadUploadRequest(
            "不支持延后声明文件大小（Upload-Defer-Length），请在创建上传时提供 Upload-Length。",
            code="defer_length_unsupported",
        )
    concat_header = request.headers.get("upload-concat")
    final_of = concat.parse_header(concat_header) if concat_header is not None else None
    partial = concat_header is not None and final_of is None
    metadata = protocol.parse_metadata(request.headers.get("upload-metadata"))
    content_length = _content_length(request)
    with_body = bool(content_length) or "chunked" in request.headers.get("transfer-encoding", "")
    if final_of is not None:
        if with_body:
            raise concat.InvalidConcat("合并请求（Upload-Concat: final）不能携带文件数据。")
        final = await _blocking(concat.create_final, session, user, final_of, metadata, get_store())
        headers = _upload_headers(final)
        headers.pop("Cache-Control")
        headers["Location"] = str(request.url_for("tus_upload", upload_id=final.id))
        return Response(status_code=201, headers=headers)
    length = protocol.parse_length(request.headers.get("upload-length"), "Upload-Length")
    if length is None:
        raise protocol.BadUploadRequest(
            "创建上传时必须提供 Upload-Length（文件字节数）。", code="upload_length_required"
        )
    raw_work_id = metadata.get("work_id", "").strip()
    work_id = protocol.parse_work_id(raw_work_id) if raw_work_id else None
    if work_id is None and not partial:
        raise protocol.BadUploadRequest("Upload-Metadata 必须包含作品编号 work_id。", code="work_id_required")
    if with_body and request.headers.get("content-type") != OFFSET_CONTENT_TYPE:
        raise protocol.UnsupportedContentType()
    store = get_store()
    group = concat.declared_group(metadata, user.id or 0, length, store.part_size) if partial else None

    def create() -> Upload:
        upload = service.create_upload(
            session, user, work_id=work_id, length=length,
            filename=metadata.get("filename"), partial=partial, file_length=group.total if group else None,
        )
        session.commit()  # the row must exist for any process before bytes arrive
        return upload

    upload = await _blocking(create)
    location = str(request.url_for("tus_upload", upload_id=upload.id))
    try:
        if group is not None:
            await _blocking(concat.join_group, upload.id, group, store)
        if with_body:
            try:
                await service.append(upload.id, user.id or 0, 0, _body(request), content_length=content_length)
            except service.BodyInterrupted:
                pass
    except (DomainError, RedisError) as exc:
        # The upload exists now: its address goes with the error, so the client can ask where it stands
        # (HEAD), continue it or end it (DELETE) instead of leaving it unreachable until it expires.
        response = _problem_of(exc)
        response.headers["Location"] = location
        return response
    upload = await _blocking(_reload, session, upload.id)
    headers = _upload_headers(upload)
    headers.pop("Cache-Control")
    headers["Location"] = location
    return Response(status_code=201, headers=headers)


@tus.head("/{upload_id}", name="tus_upload", responses={
    200: {"description": "Where the upload stands.", "headers": _TUS_ANSWER_HEADERS},
    **problem_responses(*_TUS_ERRORS, protocol.UploadNotFound, protocol.UploadGone),
}, openapi_extra={"parameters": [TUS_RESUMABLE]})
def tus_head(upload_id: UploadId, user: CurrentUser, session: SessionDep) -> Response:
    upload = service.get_own_upload(session, user, upload_id)
    if upload.concat == Concat.final and upload.status == UploadStatus.receiving:
        # Every partial may be in while the completion failed (the store was down): try again now.
        session.commit()
        if concat.finish_final_if_ready(upload_id, get_store(), 0, raise_errors=False):
            upload = _reload(session, upload_id)
    elif service.recover_if_stalled(upload):
        upload = _reload(session, upload_id)
    return Response(status_code=200, headers=_upload_headers(upload))


@tus.patch("/{upload_id}", status_code=204, responses={
    204: {"description": "Stored; `Upload-Offset` is the new offset.", "headers": _TUS_ANSWER_HEADERS},
    **problem_responses(*_TUS_ERRORS, *_APPEND_ERRORS, protocol.FinalNotPatchable, (400, "upload_offset_required")),
}, openapi_extra={
    "parameters": [TUS_RESUMABLE, _header("Upload-Offset", "Where these bytes start.", required=True, pattern=DIGITS)],
    "requestBody": OFFSET_BODY,
})
async def tus_patch(upload_id: UploadId, request: Request, user: CurrentUser, session: SessionDep) -> Response:
    if request.headers.get("content-type") != OFFSET_CONTENT_TYPE:
        raise protocol.UnsupportedContentType()
    offset = protocol.parse_length(request.headers.get("upload-offset"), "Upload-Offset")
    if offset is None:
        raise protocol.BadUploadRequest("PATCH 请求必须提供 Upload-Offset。", code="upload_offset_required")
    await _blocking(session.commit)  # hold no database connection while the body streams
    result = await service.append(
        upload_id, user.id or 0, offset, _body(request), content_length=_content_length(request)
    )
    # Answered from what the append wrote: no second read of the row on every chunk.
    headers = {"Upload-Offset": str(result.offset)}
    if result.length is not None:
        headers["Upload-Length"] = str(result.length)
    if not result.complete and result.expires_at is not None:
        headers["Upload-Expires"] = format_datetime(as_utc(result.expires_at), usegmt=True)
    return Response(status_code=204, headers=headers)


@tus.delete("/{upload_id}", status_code=204, responses=problem_responses(
    *_TUS_ERRORS, protocol.UploadNotFound, protocol.UploadGone, protocol.UploadBusy, protocol.UploadComplete,
), openapi_extra={"parameters": [TUS_RESUMABLE]})
def tus_delete(upload_id: UploadId, user: CurrentUser, session: SessionDep) -> Response:
    service.terminate(session, user, upload_id)
    return Response(status_code=204)


router.include_router(tus)


_DISPOSITION_STAR = re.compile(r"filename\*\s*=\s*([\w-]+)'[^']*'([^;]+)", re.IGNORECASE)
_DISPOSITION = re.compile(r'filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))', re.IGNORECASE)


def filename_from(disposition: str | None) -> str | None:
    """The filename of a Content-Disposition header (RFC 6266: ``filename*`` wins over ``filename``)."""
    if not disposition:
        return None
    star = _DISPOSITION_STAR.search(disposition)
    if star:
        try:
            return unquote(star.group(2).strip(), encoding=star.group(1), errors="replace")
        except (LookupError, ValueError):
            pass  # a charset Python does not know (or cannot decode with): unusable, try ``filename``
    plain = _DISPOSITION.search(disposition)
    if plain:
        return (plain.group(1) if plain.group(1) is not None else plain.group(2)).strip()
    return None


@router.put("/api/v1/works/{work_id}/video", status_code=202, response_model=WorkPublic, responses=problem_responses(
    *CHANGE_AUTH_ERRORS, *REDIS_ERRORS, *VALIDATION_ERRORS, *_APPEND_ERRORS, (503, "storage_unavailable"),
    WorkNotFound, NoActiveCampaign, SubmissionNotOpen, SubmissionClosed, CampaignClosed, AlreadySubmitted,
    UnderReview, Disqualified, protocol.InvalidIdempotencyKey, protocol.UploadInProgress, *_START_ERRORS,
), openapi_extra={
    "parameters": [
        _header("Idempotency-Key", "Makes a retry safe: 1 to 255 visible ASCII characters (e.g. a UUID).",
                pattern=r"^[\x21-\x7e]{1,255}$"),
        _header("Content-Disposition", "May carry the filename (RFC 6266), if the `filename` query does not."),
    ],
    "requestBody": {"required": True, "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    }},
})
async def put_video(
    work_id: WorkId, request: Request, user: CurrentUser, session: SessionDep, filename: str | None = None
) -> WorkPublic:
    """The whole file as the body (for scripts): same checks and limits as tus, not resumable.

    With an ``Idempotency-Key`` header, the same request sent again (a retry after a lost answer) stores
    nothing twice: once the first has completed, the work is answered again as it stands; while it is
    still being received, the retry gets 409 ``upload_in_progress``.
    """
    content_length = _content_length(request)
    name = filename or filename_from(request.headers.get("content-disposition"))
    key = request.headers.get("idempotency-key")
    digest = protocol.idempotency_digest(user.id or 0, work_id, key) if key is not None else None
    if digest is not None:
        await _blocking(service.ensure_may_upload_to, session, user, work_id)
        if await _blocking(service.earlier_put, session, digest) is not None:
            return await _blocking(_work_answer, session, user, work_id)

    def create() -> UploadLock:
        upload = service.create_upload(
            session, user, work_id=work_id, length=content_length, filename=name, idempotency=digest
        )
        # Locked before the row is visible: a retry with the same key sees it busy, never abandoned.
        lock = UploadLock(upload.id)
        lock.acquire()
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            lock.release()
            raise protocol.UploadInProgress() from None
        return lock

    lock = await _blocking(create)
    upload_id = lock.upload_id
    await service.append(
        upload_id, user.id or 0, 0, _body(request), content_length=content_length, whole_file=True, held_lock=lock
    )
    return await _blocking(_work_answer, session, user, work_id)


def _work_answer(session: SessionDep, user: CurrentUser, work_id: int) -> WorkPublic:
    session.expire_all()
    return work_public(session, get_own_work(session, user, work_id), user)
