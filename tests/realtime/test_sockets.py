"""WebSocket frames built by the realtime core: RFC 6455 headers, RFC 7692 compression, built once."""

from __future__ import annotations

import zlib

import pytest

from objectql.realtime.transports import sockets
from objectql.realtime.transports.sockets import Deflate, compressed_text_frame, text_frame


def parse(frame: bytes) -> tuple[int, bytes]:
    """(first byte, payload) of one unmasked frame, checking the length field."""
    first, length = frame[0], frame[1]
    assert not length & 0x80  # a server never masks
    offset = 2
    if length == 126:
        length, offset = int.from_bytes(frame[2:4], "big"), 4
    elif length == 127:
        length, offset = int.from_bytes(frame[2:10], "big"), 10
    payload = frame[offset:]
    assert len(payload) == length
    return first, payload


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 70_000])
def test_a_text_frame_has_the_shortest_length_field_for_its_payload(size: int) -> None:
    payload = b"x" * size
    frame = text_frame(payload)
    first, carried = parse(frame)
    assert first == 0x81 and carried == payload
    assert len(frame) - size == (2 if size < 126 else 4 if size < 65_536 else 10)


@pytest.mark.parametrize("text", ["", '{"type":"change","id":"s"}', "ünïcødé ✓ " * 300, "x" * 70_000])
def test_a_compressed_frame_inflates_on_its_own_to_the_payload(text: str) -> None:
    payload = text.encode()
    first, data = parse(compressed_text_frame(payload, Deflate(12, 5)))
    assert first == 0xC1  # FIN, RSV1 (compressed), text
    # No context takeover: a fresh decompressor per message, the sync-flush tail restored (RFC 7692 7.2.2).
    inflated = zlib.decompressobj(wbits=-12).decompress(data + b"\x00\x00\xff\xff")
    assert inflated == payload


def test_members_sharing_a_payload_share_one_frame_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[bytes] = []
    original = sockets.text_frame
    monkeypatch.setattr(sockets, "text_frame", lambda p: built.append(p) or original(p))
    cache = sockets._FrameCache()
    payload = b'{"type":"change","id":"s","seq":1}'
    frames = [cache.frame(payload, None) for _ in range(100)]
    assert len(built) == 1 and all(f is frames[0] for f in frames)
    # An equal payload in another object is framed again (identity, not equality, is the test).
    again = cache.frame(bytes(bytearray(payload)), None)
    assert len(built) == 2 and again == frames[0]
    deflated = [cache.frame(payload, Deflate(12, 5)) for _ in range(3)]
    assert all(d is deflated[0] for d in deflated) and deflated[0] != frames[0]
    assert cache.frame(payload, Deflate(10, 5)) is not deflated[0]
