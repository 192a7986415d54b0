"""`import component` refuses compiled modules that were not built from the sources beside
them (setup.py writes what they were built from): an edited .py never runs as its stale .so."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from component import refuse_stale_compiled_modules

SOURCE = "component/http/protocol.py"


def package(root: Path, *, compiled: bool, built_from: bytes | None) -> Path:
    (root / "component" / "http").mkdir(parents=True)
    (root / SOURCE).write_bytes(b"print('edited')\n")
    if compiled:
        (root / "component/http/protocol.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    if built_from is not None:
        (root / "component/compiled-sources.json").write_text(
            json.dumps({SOURCE: hashlib.sha256(built_from).hexdigest()}))
    return root / "component"


def test_pure_python_needs_no_manifest(tmp_path: Path) -> None:
    refuse_stale_compiled_modules(package(tmp_path, compiled=False, built_from=None))


def test_modules_built_from_their_sources_import(tmp_path: Path) -> None:
    refuse_stale_compiled_modules(
        package(tmp_path, compiled=True, built_from=b"print('edited')\n"))


def test_a_source_edited_after_its_build_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportError, match=r"protocol\.py.*make compiled"):
        refuse_stale_compiled_modules(
            package(tmp_path, compiled=True, built_from=b"print('built')\n"))


def test_compiled_modules_without_a_manifest_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportError, match="no manifest"):
        refuse_stale_compiled_modules(package(tmp_path, compiled=True, built_from=None))
