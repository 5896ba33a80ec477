"""Every error leaves the daemon as ``{"error": {"code", "message", "context"}}``.

``code`` is a :class:`PodiumError` code, so the client rebuilds the same
exception class with ``error_from_dict``. HTTP statuses:

    AgentNotFound, RequestNotFound,
    RunNotFound, ApprovalNotFound    404
    AgentExists, ApprovalDecided     409
    InvalidOptions                   422 (an agent option: unknown, podium's own, ill-typed)
    other UsageError                 400
    malformed or invalid body        422 (code ``usage_error``)
    WaitTimeout                      408 (the request keeps running)
    BackendError                     502
    DaemonError                      503
    anything else                    500
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._approvals import ApprovalDecided, ApprovalNotFound
from .._errors import (
    AgentExists,
    AgentNotFound,
    BackendError,
    DaemonError,
    InvalidOptions,
    PodiumError,
    RequestNotFound,
    UsageError,
    WaitTimeout,
)
from ..orchestration._run_records import RunNotFound

__all__ = ["error_response", "install_error_handlers", "status_for"]

_log = logging.getLogger("podium.server")


def status_for(exc: PodiumError) -> int:
    if isinstance(exc, AgentNotFound | RequestNotFound | RunNotFound | ApprovalNotFound):
        return 404
    if isinstance(exc, AgentExists | ApprovalDecided):
        return 409
    if isinstance(exc, InvalidOptions):
        return 422
    if isinstance(exc, UsageError):
        return 400
    if isinstance(exc, WaitTimeout):
        return 408
    if isinstance(exc, BackendError):
        return 502
    if isinstance(exc, DaemonError):
        return 503
    return 500


def error_response(
    status: int,
    code: str,
    message: str,
    context: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "context": context or {}}}
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    problems: list[dict[str, Any]] = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()))
        # "input" is left out on purpose: it may be a multi-megabyte prompt.
        problems.append({"loc": location, "msg": str(error.get("msg", "invalid"))})
    summary = "; ".join(f"{p['loc']}: {p['msg']}" for p in problems[:5]) or "invalid request"
    return f"invalid request: {summary}", problems


def install_error_handlers(app: FastAPI) -> None:
    async def on_podium_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PodiumError)
        payload = exc.to_dict()
        return error_response(status_for(exc), payload["code"], exc.message, payload["context"])

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        message, problems = _validation_message(exc)
        return error_response(422, UsageError.code, message, {"errors": problems})

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = UsageError.code if 400 <= exc.status_code < 500 else DaemonError.code
        message = f"{request.method} {request.url.path}: {exc.detail}"
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, code, message, headers=headers)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unexpected error in %s %s", request.method, request.url.path)
        message = f"internal error: {type(exc).__name__}: {exc}"
        return error_response(500, PodiumError.code, message)

    app.add_exception_handler(PodiumError, on_podium_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
