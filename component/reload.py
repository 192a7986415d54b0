"""What `systemctl reload` (SIGHUP) changes in a running daemon, and what it cannot.

The file is read and checked as at start. What is read afresh for each request, command or
log line (the keys of RELOADABLE) takes the file's values at once. Everything else is bound
to what was built at start, the listening socket, the component link, the store and its
outbox, the delivery window, the key backend, and keeps its running value until a restart;
each such key that the file changes is reported, so that an operator knows the file and
the daemon now differ.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from component.config import Config, ConfigError, Integrator, contradictions

# Dotted keys (a section's name alone: all of it). limits.max_inbound_stanza_bytes is not
# here: it caps the link's parser, made when the link connects.
RELOADABLE = frozenset({
    "integrators", "limits.max_request_bytes", "limits.max_stanza_bytes",
    "limits.max_body_chars", "limits.max_items", "log.level", "log.json", "adhoc.admins",
    "http.always_200",
})


@dataclass(frozen=True)
class Reload:
    config: Config              # what the daemon runs under from now on
    applied: tuple[str, ...]    # reloadable keys the file changed, with what changed
    kept: tuple[str, ...]       # keys the file changed that keep their running value


def plan(running: Config, wanted: Config) -> Reload:
    """`wanted`'s reloadable values over `running`'s others; ConfigError when the two
    together contradict each other (an open API on a public address)."""
    applied: list[str] = []
    kept: list[str] = []

    def pick(key: str, old: Any, new: Any) -> Any:
        if old == new:
            return old
        if key in RELOADABLE:
            applied.append(_integrator_changes(old, new) if key == "integrators" else key)
            return new
        kept.append(key)
        return old

    sections = {}
    for section in dataclasses.fields(Config):
        old, new = getattr(running, section.name), getattr(wanted, section.name)
        if isinstance(old, tuple):  # the integrators: a list, compared whole
            sections[section.name] = pick(section.name, old, new)
            continue
        sections[section.name] = dataclasses.replace(old, **{
            key.name: pick(f"{section.name}.{key.name}", getattr(old, key.name),
                           getattr(new, key.name))
            for key in dataclasses.fields(old)})
    config = Config(**sections)
    problems = contradictions(config)
    if problems:
        raise ConfigError(problems)
    return Reload(config, tuple(applied), tuple(kept))


def _integrator_changes(old: tuple[Integrator, ...], new: tuple[Integrator, ...]) -> str:
    """`integrators (added: a; removed: b; changed: c)`: names only, never a token hash."""
    before, after = {i.name: i for i in old}, {i.name: i for i in new}
    parts = {"added": sorted(after.keys() - before.keys()),
             "removed": sorted(before.keys() - after.keys()),
             "changed": sorted(n for n in before.keys() & after.keys()
                               if before[n] != after[n])}
    said = "; ".join(f"{what}: {', '.join(names)}" for what, names in parts.items() if names)
    return f"integrators ({said or 'order'})"
