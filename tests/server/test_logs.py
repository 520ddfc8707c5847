"""Log redaction: no token, bearer credential or URL password reaches a log line."""

from __future__ import annotations

import logging
import sys

import pytest

from objectql.server.logs import RedactSecrets, redact

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzYW0ifQ.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f'127.0.0.1:5000 - "GET /api/events/orders?access_token={JWT}&fields=id HTTP/1.1" 200', JWT),
        ("GET /api/events/orders?token=opaque-value-123", "opaque-value-123"),
        ("Authorization: Bearer opaque-bearer-456", "opaque-bearer-456"),
        (f"rejected token {JWT}", JWT),
        ("connecting to postgresql://app:pw-789@db/shop", "pw-789"),
    ],
)
def test_redact_removes_the_secret_and_keeps_the_rest(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out
    assert "***" in out


def test_redact_leaves_ordinary_text_alone() -> None:
    text = 'GET /health HTTP/1.1" 200 fields=id,status&filters=[["status","=","paid"]]'
    assert redact(text) == text


def test_filter_redacts_formatted_arguments_and_tracebacks() -> None:
    try:
        raise ValueError(f"bad token {JWT}")
    except ValueError:
        record = logging.getLogger("test").makeRecord(
            "test", logging.ERROR, __file__, 1, "request %s failed", (f"?access_token={JWT}",), None
        )
        record.exc_info = sys.exc_info()
    assert RedactSecrets().filter(record)
    assert JWT not in record.getMessage()
    assert record.exc_text is not None and JWT not in record.exc_text
