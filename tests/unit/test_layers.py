"""The house plan, read from the imports: every unit of `component/` (a package, or a module at
the top of it) imports only units of layers below its own, so no import runs back up and no two
packages import each other. docs/ARCHITECTURE.md draws the same order.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parents[2] / "component"

# Bottom first. A unit may import the units of lower layers only: units of one layer never
# import each other (the two adapters, http and adhoc, least of all).
LAYERS: tuple[frozenset[str], ...] = tuple(frozenset(layer.split()) for layer in (
    # foundation, no imports of ours
    "xmpp_prep errors numbers config_model metrics systemd tasks log_lines",
    "jid",
    "config",
    "logs reload",  # reload: what a running daemon can change of a new config
    "rooms",  # the group model: values and typed requests
    "xmpp",  # the protocol: link, pure builders, forms, the per-server MUC adapters
    "store",
    "services",
    "adhoc http",  # the two adapters over the services
    "servers",  # what differs per XMPP server, picked at wiring time
    "app",  # the composition root
    "__main__",
))
LAYER_OF = {unit: level for level, layer in enumerate(LAYERS) for unit in layer}


def unit_of(module: str) -> str | None:
    """`component.http.audit` → `http`; None for a module outside the package."""
    parts = module.split(".")
    return parts[1] if parts[0] == "component" and len(parts) > 1 else None


def source_units() -> Iterator[tuple[str, Path]]:
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("").parts
        if relative != ("__init__",):
            yield relative[0], path


def imported_modules(path: Path) -> Iterator[str]:
    """Every module an import statement names, at any depth (functions, TYPE_CHECKING)."""
    package = ".".join(("component", *path.relative_to(ROOT).parent.parts))
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            yield base
            # `from component import errors` names the unit in the alias
            yield from (f"{base}.{alias.name}" for alias in node.names if base == "component")


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for unit, path in source_units():
        edges = graph.setdefault(unit, set())
        for module in imported_modules(path):
            target = unit_of(module)
            if target is not None and target != unit:
                edges.add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(unit: str) -> list[str] | None:
        if unit in visiting:
            return [*visiting[visiting.index(unit):], unit]
        if unit in done:
            return None
        visiting.append(unit)
        for target in sorted(graph.get(unit, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        visiting.pop()
        done.add(unit)
        return None

    return next(filter(None, map(visit, sorted(graph))), None)


def test_every_unit_has_a_declared_layer() -> None:
    assert set(import_graph()) - set(LAYER_OF) == set(), "add the new unit to LAYERS"


def test_no_import_runs_up_or_sideways() -> None:
    wrong = sorted(f"{unit} → {target}" for unit, targets in import_graph().items()
                   for target in targets if LAYER_OF[target] >= LAYER_OF[unit])
    assert wrong == []


def test_no_two_units_import_each_other() -> None:
    assert find_cycle(import_graph()) is None


def test_the_checker_sees_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_jids_are_made_by_jid_py_only() -> None:
    """A Jid is made by parsing or by a factory that prepares it (one JID normalisation)."""
    makers = []
    for _, path in source_units():
        if path.name == "jid.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "Jid":
                makers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert makers == []
