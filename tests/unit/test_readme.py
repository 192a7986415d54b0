"""README's error-code table is the API's documentation: it must match ErrCode exactly."""

from __future__ import annotations

import re
from pathlib import Path

from component.errors import ErrCode

README = Path(__file__).parents[2] / "README.md"


def test_errcode_table_matches_the_enum() -> None:
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- errcodes")[1].split("<!-- /errcodes -->")[0]
    rows = re.findall(r"^\| (\d+) \| ([A-Z_]+) \|", table, re.MULTILINE)
    assert {name: int(code) for code, name in rows} == {e.name: e.value for e in ErrCode}


def test_readme_starts_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    commands = [line.split("#")[0].strip() for line in lines[:8] if line.startswith("make ")]
    assert commands == ["make demo", "make test"]
