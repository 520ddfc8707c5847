"""How the servers under test are used — by default as users run them — and the tokens the clients present."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import jwt

# The HS256 key of the servers under test in the realistic mode (a benchmark's, never a deployment's).
BENCH_SECRET = "objectql-bench-secret-0123456789abcdef"
TOKEN_TTL = 4 * 3600
# Subscribers' tokens: this many distinct users, all with one read role.
TOKEN_USERS = 50
TOKEN_ROLES = ["viewer"]


@dataclass(frozen=True)
class Realism:
    """How the server under test is used: by default the way users run it.

    ``auth``: JWT on (HS256), a token per subscriber connection; ``graphql_writes``: writes are
    ``createOrders`` mutations over ``POST /graphql`` (else the bench-only ``POST /bench/write``);
    ``offer_deflate``: subscribers offer permessage-deflate as browsers do; ``compression``: the server
    accepts it (``OBJECTQL_WS_COMPRESSION``; the baseline likewise).
    """

    auth: bool = True
    graphql_writes: bool = True
    offer_deflate: bool = True
    compression: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Realism:
        return cls(
            auth=not args.open,
            graphql_writes=not args.bench_writes,
            offer_deflate=not args.no_deflate_offer,
            compression=args.compression,
        )

    @classmethod
    def from_command(cls, command: str) -> Realism:
        """The mode a benchmark command ran in, read off its flags (those of :meth:`from_args`)."""
        words = command.split()
        return cls(
            auth="--open" not in words,
            graphql_writes="--bench-writes" not in words,
            offer_deflate="--no-deflate-offer" not in words,
            compression="--compression" in words,
        )

    @property
    def secret(self) -> str | None:
        return BENCH_SECRET if self.auth else None

    def writer_headers(self) -> dict[str, str]:
        """The headers of a write request: the writer's token when the server checks tokens."""
        return {"authorization": f"Bearer {writer_token(self.secret)}"} if self.secret is not None else {}

    def describe(self) -> str:
        return ", ".join(
            [
                "JWT auth on (HS256, a token per connection)" if self.auth else "open server (no JWT key)",
                "writes as GraphQL createOrders mutations" if self.graphql_writes else "writes via POST /bench/write",
                "clients offer permessage-deflate" if self.offer_deflate else "clients offer no extensions",
                "server compression on" if self.compression else "server compression off (the default)",
            ]
        )


# How the benchmarks run unless told otherwise.
REALISTIC = Realism()


def writer_token(secret: str) -> str:
    """The token the benchmark writes with."""
    claims = {"sub": "bench-writer", "roles": ["writer"], "exp": int(time.time()) + TOKEN_TTL}
    return jwt.encode(claims, secret)


def subscriber_token(secret: str, n: int) -> str:
    """Connection ``n``'s token: one of ``TOKEN_USERS`` users sharing the read role."""
    claims = {"sub": f"user{n % TOKEN_USERS}", "roles": TOKEN_ROLES, "exp": int(time.time()) + TOKEN_TTL}
    return jwt.encode(claims, secret, algorithm="HS256")
