"""Every failure of the app as OpenAI's error body, with the status the SDK maps to its
typed exceptions (400 BadRequestError, 404 NotFoundError, 500 InternalServerError ...).

One converter, ``as_speech_error``, turns whatever was raised (our ``SpeechError``, a
pydantic validation error, Starlette's 404/405, anything else) into a ``SpeechError``;
one handler answers it. Validation failures are 400 (OpenAI's status), not FastAPI's 422.
"""

from __future__ import annotations

import logging
from typing import Any

from avbench.serve.protocol import SpeechError

log = logging.getLogger("avbench.serve")

# pydantic error types -> OpenAI's error codes
VALIDATION_CODES = {"missing": "missing_required_parameter", "extra_forbidden": "unknown_parameter",
                    "string_too_long": "string_above_max_length",
                    "string_too_short": "string_below_min_length",
                    "less_than_equal": "decimal_above_max_value",
                    "greater_than_equal": "decimal_below_min_value",
                    "literal_error": "invalid_value", "json_invalid": "invalid_json"}


def validation_error(errors: list[dict[str, Any]]) -> SpeechError:
    """The first of pydantic's errors, named by its field (``param``) and OpenAI's code."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    fields = [str(part) for part in first.get("loc", ()) if part != "body"]
    # a union (voice: str | {"id"}) reports its branch names; the field is the first part
    param = fields[0] if fields else None
    kind = str(first.get("type", ""))
    code = VALIDATION_CODES.get(kind, "invalid_type" if kind.endswith("_type") else
                                "invalid_value")
    if kind == "extra_forbidden":
        message = f"Unrecognized request argument supplied: {param}"
    elif kind == "missing":
        message = f"Missing required parameter: '{param}'."
    else:
        message = f"Invalid '{param}': {first.get('msg', 'invalid value')}." if param \
            else str(first.get("msg", "invalid request body"))
    return SpeechError(400, message, param=param, code=code)


def as_speech_error(error: Exception) -> SpeechError:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    if isinstance(error, SpeechError):
        return error
    if isinstance(error, RequestValidationError):
        return validation_error(list(error.errors()))
    if isinstance(error, HTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code)
        return SpeechError(error.status_code, str(error.detail), code=code)
    log.error("speech server: internal error: %s: %s", type(error).__name__,
              first_line(error))
    return SpeechError(500, f"internal error: {type(error).__name__}: {first_line(error)}",
                       code="internal_error")


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


def install_error_handlers(app: Any) -> None:
    """Answer every error of ``app`` in OpenAI's shape."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    async def handle(_request: Any, error: Exception) -> JSONResponse:
        speech_error = as_speech_error(error)
        return JSONResponse(speech_error.body(), status_code=speech_error.status)

    for kind in (SpeechError, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(kind, handle)
