"""Process-wide logging: structlog for our own loggers, the standard library's (uvicorn,
asyncio, SQLAlchemy) routed through the same processors, one line per event on stderr.

`CONVOFLOW_LOG_JSON=1` renders JSON lines; otherwise readable console lines. Whatever the
renderer, every line passes `redact` last: values under secret-bearing keys are replaced,
and secret-looking fragments of strings (`hub.verify_token=...`, `Bearer ...`, an
`X-API-Key` header) are masked. Tracebacks are plain text without local variables: a
frame's locals hold the request's headers, the number's access token, the project's
secrets — structlog's default (rich) traceback prints them all.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO
from urllib.parse import unquote_plus

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[redacted]"

# Keys (of an event, or of a dict logged as a value) whose value is a secret whatever it
# is. Compared lower-cased, with `-` and `.` read as `_`.
SECRET_KEYS = frozenset(
    {
        "x_api_key",
        "api_key",
        "authorization",
        "x_hub_signature_256",
        "x_webhook_signature",
        "hub_verify_token",
        "verify_token",
        "access_token",
        "app_secret",
        "secret",
        "secret_key",
        "secrets",
        "webhook_secret",
        "password",
        "token",
        "cookie",
        "set_cookie",
    }
)
# Query parameters and `name=value` / `name: value` pairs inside free text (an access log
# line, an exception message, a repr of headers).
_SECRET_NAMES = (
    r"hub\.verify_token|verify_token|access_token|api_key|apikey|x-api-key|api-key|app_secret"
    r"|secret_key|authorization"
    r"|secret|token|password|x-hub-signature-256|x-webhook-signature|signature"
)
# The value may start with an auth scheme (`Authorization: Bearer <token>`): the scheme
# and the credential after it go together. A `b` before the quote is a bytes repr's.
_PAIR = re.compile(
    rf"""(?P<name>(?:{_SECRET_NAMES}))"""
    r"""(?P<sep>['"]?\s*[:=]\s*(?:b?['"])?|['"]\s*,\s*b?['"])"""
    r"""(?P<value>(?:(?:bearer|basic|token|bot)\s+)?[^\s&'",;)}\]]+)""",
    re.IGNORECASE,
)
# A query parameter whose name is percent-encoded (`hub.verify_toke%6E=...`), which the
# server decodes like any other: its name is read decoded. Linear on any input (a log
# line is the client's URL): a name starts only after `?` or `&`, and its runs of plain
# characters and `%XX` escapes cannot overlap, so a failed match never backtracks into
# other ways of splitting the same characters.
_ENCODED_PARAM = re.compile(
    r"(?<=[?&])(?P<name>[^\s&?=/%]*(?:%[0-9A-Fa-f]{2}[^\s&?=/%]*)+)=(?P<value>[^\s&]*)"
)
# Fields whose values are ids, counts or names we generate: scrubbing them costs time on
# every per-message line and can find nothing.
SAFE_KEYS = frozenset(
    {
        "timestamp", "level", "logger", "execution_id", "conversation_id", "message_id",
        "outbox_id", "delivery_id", "job_id", "wamid", "direction", "routing", "channel",
        "result", "attempt", "attempts", "node_id", "node_type", "kind", "status", "ms",
        "http_status", "code", "error_code", "phone_number_id", "fbtrace_id", "method",
        "ok", "sends", "webhook_event",
    }
)  # fmt: skip
# httpx and httpx2 (the MCP SDK's client) log each request's full URL at INFO. A URL that
# a tenant's flow or function calls is built from templates and secrets, in its query
# (`?key=...`) or its path (`/hooks/<token>`), which no pattern can tell from an id: their
# INFO lines are never written. Our own lines name a call by its ids.
URL_LOGGERS = ("httpx", "httpx2")
_BEARER = re.compile(r"(?P<scheme>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_MAX_DEPTH = 6


_KEY_VERDICTS: dict[str, bool] = {}


def _secret_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    verdict = _KEY_VERDICTS.get(key)
    if verdict is None:
        verdict = key.lower().replace("-", "_").replace(".", "_") in SECRET_KEYS
        if len(_KEY_VERDICTS) < 10_000:  # keys come from code and headers: a bounded set
            _KEY_VERDICTS[key] = verdict
    return verdict


def scrub_text(text: str) -> str:
    """Mask the secret-looking fragments of free text."""
    if "=" not in text and ":" not in text and "," not in text and " " not in text:
        return text
    text = _PAIR.sub(lambda m: f"{m.group('name')}{m.group('sep')}{REDACTED}", text)
    if "%" in text:
        text = _ENCODED_PARAM.sub(_encoded_param, text)
    return _BEARER.sub(lambda m: f"{m.group('scheme')}{REDACTED}", text)


def _encoded_param(match: re.Match[str]) -> str:
    if _PAIR.search(f"{unquote_plus(match.group('name'))}=x") is None:
        return match.group(0)
    return f"{match.group('name')}={REDACTED}"


def scrub(value: Any, depth: int = 0) -> Any:
    """A copy of `value` with secrets masked (strings, and dicts/lists/tuples in them)."""
    if isinstance(value, str):
        return scrub_text(value)
    if depth >= _MAX_DEPTH or isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {k: REDACTED if _secret_key(k) else scrub(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and _secret_key(_text(value[0])):
            return (value[0], REDACTED)  # a (name, value) header pair
        return [scrub(v, depth + 1) for v in value]
    if isinstance(value, bytes):
        return scrub_text(value.decode("utf-8", "replace"))
    return scrub_text(str(value))


def _text(value: Any) -> Any:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """The last processor before rendering: nothing secret reaches a log line."""
    return {
        key: value if key in SAFE_KEYS else REDACTED if _secret_key(key) else scrub(value)
        for key, value in event_dict.items()
    }


def _orjson_dumps(value: Any, **_kw: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _renderer(json_lines: bool) -> Processor:
    if json_lines:
        return structlog.processors.JSONRenderer(serializer=_orjson_dumps)
    return structlog.dev.ConsoleRenderer(
        colors=False, exception_formatter=structlog.dev.plain_traceback
    )


def _shared() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _final(json_lines: bool) -> list[Processor]:
    # format_exc_info renders the traceback with the traceback module: frames and source
    # lines, never locals. It runs before `redact`, so exception messages are scrubbed too.
    return [
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact,
        _renderer(json_lines),
    ]


def configure_logging(
    *, level: str = "INFO", json_lines: bool = False, stream: TextIO | None = None
) -> None:
    """Configure structlog and the standard library's root logger for this process.
    Safe to call again (the CLI calls it once per command; tests may reconfigure)."""
    stream = stream or sys.stderr
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(
            f"CONVOFLOW_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR; got {level!r}"
        )
    structlog.configure(
        processors=[*_shared(), *_final(json_lines)],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_shared(), structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        *_final(json_lines)],
        )
    )  # fmt: skip
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # uvicorn's loggers keep no handlers of their own: their records reach the root's.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    for name in URL_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
