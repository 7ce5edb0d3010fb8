"""What every endpoint of the web UI shares: the state and session a request names, the
:func:`api` wrapper that turns what a user can act on into a 4xx line (anything else a logged
500), and request bodies checked by small pydantic models (:func:`read_body`).
"""
from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from editor.api.errors import TrackeditError
from editor.api.limits import document_problem
from editor.pipeline.presets import Preset, builtin_presets, load_preset
from editor.ui.jobs import INTERNAL_ERROR
from editor.ui.state import UiError, UiSession, UiState

log = logging.getLogger(__name__)


def app_state(request: Request) -> UiState:
    return request.app.state.ui


def request_session(request: Request) -> UiSession:
    return app_state(request).get(request.path_params["sid"])


def require_idle(ui: UiSession) -> None:
    if ui.busy():
        raise UiError(409, "busy: pause the running job first")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split())}, status_code=status)


Endpoint = Callable[[Request], Awaitable[Response]]


def api(fn: Endpoint) -> Endpoint:
    """Answer errors as one JSON line. Only errors the user can act on are 4xx: a
    :class:`UiError` (its status) and a :class:`TrackeditError` (400, its message); request
    bodies and query values are checked explicitly and fail as ``UiError``. Anything else
    is a bug: 500 with :data:`INTERNAL_ERROR`, and the traceback in the server log."""
    @functools.wraps(fn)
    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request)
        except UiError as exc:
            return _error(exc.status, str(exc))
        except TrackeditError as exc:
            return _error(400, str(exc))
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return JSONResponse({"error": INTERNAL_ERROR}, status_code=500)
    return endpoint


class Body(BaseModel):
    """A JSON request body; fields the page does not send take their defaults."""

    model_config = ConfigDict(extra="ignore", frozen=True)


B = TypeVar("B", bound=Body)


async def read_body(request: Request, model: type[B]) -> B:
    """The request's JSON object checked against ``model`` (an empty body is ``{}``); a
    400 naming the field otherwise."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise UiError(400, f"the request body is not valid JSON ({document_problem(exc)})") from None
    if not isinstance(data, dict):
        raise UiError(400, "the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            where = ".".join(str(part) for part in e["loc"])
            message = e["msg"][:1].lower() + e["msg"][1:]
            problems.append(f"{where}: {message}" if where else message)
        raise UiError(400, "; ".join(problems)) from None


def requested_width(request: Request) -> int | None:
    """The ``width`` query value: a whole number of pixels (``None``/0: the video's width)."""
    raw = request.query_params.get("width", "") or "0"
    if not (raw.isascii() and raw.isdigit()):
        raise UiError(400, f"width must be a whole number of pixels, not {raw!r}")
    return int(raw) or None


def named_preset(name: str, exporting: str) -> Preset:
    """A built-in preset that paints frames; ``exporting``: what to say for export-masks."""
    if name not in builtin_presets():
        raise UiError(400, f"unknown preset {name!r}")
    preset = load_preset(name)
    if any(c.use == "export-masks" for c in preset.stages):
        raise UiError(400, exporting)
    return preset


