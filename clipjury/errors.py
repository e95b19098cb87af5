"""Typed domain errors: a stable English ``code`` and a Chinese message the user can act on.

They are rendered once, at the edge: ``application/problem+json`` in the API, an HTML page in the UI.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    code = "bad_request"
    message = "请求有误。"

    def __init__(self, message: str | None = None, *, code: str | None = None, **extra: Any) -> None:
        self.message = message or type(self).message
        if code:
            self.code = code
        self.extra = extra
        super().__init__(f"{self.code}: {self.message}")


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"
    message = "请先登录。"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"
    message = "您没有权限执行此操作。"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"
    message = "找不到该对象，或您无权查看。"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
    message = "操作与当前状态冲突，请刷新后重试。"


class Gone(DomainError):
    status_code = 410
    code = "gone"
    message = "该上传已过期或已取消，请重新上传。"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "too_large"
    message = "文件超过大小上限。"


class Invalid(DomainError):
    status_code = 422
    code = "invalid"
    message = "提交的内容不符合要求。"


class Locked(DomainError):
    status_code = 423
    code = "upload_busy"
    message = "该上传正在另一连接中进行，请稍后重试。"


class Unavailable(DomainError):
    status_code = 503
    code = "unavailable"
    message = "服务暂时不可用，请稍后重试。"


class LimitReached(DomainError):
    """A per-account limit (drafts, uploads, bytes a day): 429, which tus clients show instead of retrying."""

    status_code = 429
    code = "limit_reached"
    message = "已达到账号的使用上限，请稍后再试。"
