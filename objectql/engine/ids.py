"""Record ids: what one may be, and the ids the engine generates.

An id is 1–128 characters of ASCII letters, digits, ``_ - . @``, starting with a letter or a digit: no
``:`` (the separator of record channels such as ``orders:ord_1``), no white space, nothing a URL or a log
line would need to escape. A client-supplied id outside this alphabet is refused on create; one given to
look a record up is simply not found. Generated ids are 26 characters, time-ordered (millisecond prefix)
then random, so id order ≈ creation order.
"""

from __future__ import annotations

import re
import secrets
import time

from objectql.errors import NotFound

MAX_ID_LENGTH = 128
ID_RULE = f"1 to {MAX_ID_LENGTH} ASCII letters, digits, _ - . @, starting with a letter or a digit"
_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.@-]{{0,{MAX_ID_LENGTH - 1}}}")
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, ascending code points


def is_id(value: object) -> bool:
    """Whether ``value`` is a string a record id may be."""
    return isinstance(value, str) and len(value) <= MAX_ID_LENGTH and _ID.fullmatch(value) is not None


def no_such_id(object_name: str) -> NotFound:
    """The NotFound for an id no record can have; the id is not echoed back (it may be any text, any length)."""
    return NotFound(f"{object_name} has no record with that id", details={"object": object_name})


def new_id() -> str:
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
