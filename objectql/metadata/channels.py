"""Who may join which presence channel: ``presence.yml`` in the app directory.

```yaml
channels:                      # the first pattern that matches a channel decides
  - pattern: "lobby"
    join: ["*"]                # roles, as in permissions: "*" any signed-in user, "anonymous" anyone
  - pattern: "support:*"       # "*" matches any run of channel characters
    join: [admin, sales]
```

Without the file every channel is open to everyone allowed in (signed-in users; anyone on an open
server). With it, a channel no pattern matches cannot be joined. A channel ``<object>:<id>[:...]``
naming a defined object is also tied to that record (docs/presence.md); the record rule is the
engine's, applied on top of these patterns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from objectql.errors import DefinitionError
from objectql.metadata.loader import yaml_error

FILE_NAME = "presence.yml"
# A channel name (docs/presence.md); a pattern may also hold "*".
CHANNEL_RE = re.compile(r"[A-Za-z0-9:_.-]{1,128}")
PATTERN_RE = re.compile(r"[A-Za-z0-9:_.*-]{1,128}")


@dataclass(frozen=True)
class ChannelRule:
    pattern: str
    join: tuple[str, ...]
    compiled: re.Pattern[str]

    @classmethod
    def of(cls, pattern: str, join: tuple[str, ...]) -> ChannelRule:
        regex = ".*".join(re.escape(part) for part in pattern.split("*"))
        return cls(pattern, join, re.compile(regex))

    def matches(self, channel: str) -> bool:
        return self.compiled.fullmatch(channel) is not None


@dataclass(frozen=True)
class ChannelRules:
    """The declared rules; ``declared`` False when the app has no presence.yml (everything open)."""

    rules: tuple[ChannelRule, ...] = ()
    declared: bool = False

    def rule_for(self, channel: str) -> ChannelRule | None:
        """The first rule whose pattern matches ``channel``."""
        return next((rule for rule in self.rules if rule.matches(channel)), None)


def load_channel_rules(directory: str | Path) -> ChannelRules:
    """The rules of the app in ``directory`` (``DIR/presence.yml``; none declared when it is missing)."""
    path = Path(directory) / FILE_NAME
    if not path.is_file():
        return ChannelRules()
    file = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise yaml_error(file, exc) from None
    return parse_channel_rules(raw, file)


def parse_channel_rules(raw: Any, file: str) -> ChannelRules:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise DefinitionError(file, "", "a mapping with the key channels")
    for key in raw:
        if key != "channels":
            raise DefinitionError(file, str(key), "the key channels")
    entries = raw.get("channels") or []
    if not isinstance(entries, list):
        raise DefinitionError(file, "channels", "a list of {pattern, join} entries")
    return ChannelRules(tuple(_rule(entry, f"channels[{i}]", file) for i, entry in enumerate(entries)), True)


def _rule(entry: Any, key_path: str, file: str) -> ChannelRule:
    if not isinstance(entry, dict):
        raise DefinitionError(file, key_path, "a mapping with the keys pattern and join")
    for key in entry:
        if key not in ("pattern", "join"):
            raise DefinitionError(file, f"{key_path}.{key}", "one of the keys join, pattern")
    pattern = entry.get("pattern")
    if not isinstance(pattern, str) or not PATTERN_RE.fullmatch(pattern):
        raise DefinitionError(file, f"{key_path}.pattern", "a channel pattern matching ^[A-Za-z0-9:_.*-]{1,128}$")
    join = entry.get("join")
    if not isinstance(join, list) or not join or not all(isinstance(r, str) and r for r in join):
        raise DefinitionError(file, f"{key_path}.join", "a non-empty list of role names")
    return ChannelRule.of(pattern, tuple(join))
