"""GraphQL names of objects (ObjectQL's GraphQL plugin): ``order_items`` → ``orderItems`` / ``OrderItems``."""

from __future__ import annotations

import keyword


def camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def python_name(name: str) -> str:
    """The attribute a GraphQL field ``name`` is kept under (``from`` → ``from_``)."""
    return f"{name}_" if keyword.iskeyword(name) else name
