"""Schema tooling reads the schema: graphql-js's standard introspection query (every option on) is answered
on HTTP and on both WebSocket protocols, and ``buildClientSchema`` of the answer is the served SDL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from objectql.schema import build_schema
from tests.graphql.test_clients_js import JS_DIR, node
from tests.graphql.test_limits import run
from tests.graphql.wsclient import PROTOCOLS
from tests.realtime.conftest import ServerFactory

__all__ = ["node"]  # the fixture
SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop" / "objects"


def script(node: str, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [node, str(JS_DIR / "introspection.mjs"), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


async def test_the_standard_introspection_query_rebuilds_the_served_schema(
    live_server: ServerFactory, node: str, tmp_path: Path
) -> None:
    objects = {p.name.removesuffix(".object.yml"): p.read_text(encoding="utf-8") for p in SHOP.glob("*.object.yml")}
    server = await live_server(objects)
    query = str(script(node, "query")["query"])
    answers = [await run(server, transport, query) for transport in ("http", *PROTOCOLS)]
    assert all("errors" not in answer for answer in answers), answers[0].get("errors")
    assert answers[1:] == answers[:1] * len(PROTOCOLS)  # the same schema on every transport

    (tmp_path / "result.json").write_text(json.dumps(answers[0]), encoding="utf-8")
    (tmp_path / "served.graphql").write_text(build_schema(server.engine.registry).as_str(), encoding="utf-8")
    compared = script(node, "compare", str(tmp_path / "result.json"), str(tmp_path / "served.graphql"))
    assert compared["client"] == compared["served"]
    assert compared["equal"] is True
