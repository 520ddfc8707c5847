"""Logging for the server: one handler for ObjectQL and uvicorn, and a filter that keeps tokens out.

Tokens can reach a log line by accident — an SSE ``access_token`` in an access-log URL, an
``Authorization`` header echoed in an error — so every record passes through :class:`RedactSecrets`
on its way to the handler, whatever logger produced it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

_PATTERNS = (
    # access_token=… / token=… in query strings
    (re.compile(r"((?:access_)?token=)[^&\s\"']+", re.IGNORECASE), r"\1***"),
    # Authorization: Bearer …
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1***"),
    # Anything shaped like a JWT (header.payload.signature, base64url, header starting with {")
    (re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "***"),
    # Passwords in URLs
    (re.compile(r"(://[^/:@\s]*:)[^/@\s]*@"), r"\1***@"),
)


def redact(text: str) -> str:
    """``text`` with tokens, bearer credentials and URL passwords replaced by ``***``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites each record's message with :func:`redact` (tracebacks included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # A malformed call (arguments not matching the format): let the handler report it.
            return True
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO 8601 UTC), ``level``, ``logger``, ``message``, and
    ``exception`` (the traceback text) when there is one — what log collectors parse without a pattern."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str, format: str = "text") -> None:
    """Send every log record (ObjectQL's and uvicorn's) to stderr, redacted, at ``level``, as text lines
    or (``format="json"``) as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if format == "json" else logging.Formatter(FORMAT))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's loggers propagate to the root handler instead of installing their own.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


__all__ = ["JSONFormatter", "RedactSecrets", "configure_logging", "redact"]
