"""Config: every problem reported at once, placeholders and open non-loopback binds refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from component.__main__ import main
from component.config import EX_CONFIG, ConfigError, load_config, parse_config


def good() -> dict[str, Any]:
    return {"xmpp": {"server": "127.0.0.1", "port": 5347, "domain": "api.qtalk.test.org",
                     "secret": "s3cret-for-tests", "hosts": ["qtalk.test.org"],
                     "muc_domain": "conference.qtalk.test.org"},
            "http": {"bind": "127.0.0.1", "port": 10050},
            "store": {"path": "x.db"}}


def test_good_config() -> None:
    config = parse_config(good())
    assert config.xmpp.hosts == ("qtalk.test.org",)
    assert config.http.always_200 is False
    assert config.limits.max_items == 1000


def test_shared_state_is_optional_and_checked() -> None:
    assert parse_config(good()).shared.redis_url is None
    doc = good() | {"shared": {"redis_url": "redis://127.0.0.1:6379/3"}}
    assert parse_config(doc).shared.redis_url == "redis://127.0.0.1:6379/3"
    doc["shared"] = {"redis_url": "http://127.0.0.1:6379", "extra": 1}
    with pytest.raises(ConfigError) as info:
        parse_config(doc)
    assert {p.split(":")[0] for p in info.value.problems} == {"shared.redis_url",
                                                              "shared.extra"}


def test_every_problem_is_listed() -> None:
    doc = good()
    doc["xmpp"].update(secret="change-me", port="5347", hosts=[], domain="bad domain")
    doc["http"]["bind"] = "0.0.0.0"  # noqa: S104 (the point of the test)
    doc["extra"] = {}
    with pytest.raises(ConfigError) as info:
        parse_config(doc)
    text = str(info.value)
    for expected in ("xmpp.secret", "xmpp.port", "xmpp.hosts", "xmpp.domain", "http.bind",
                     "extra: unknown section"):
        assert expected in text
    assert len(info.value.problems) >= 6


def test_example_config_in_the_repo_parses_except_for_its_placeholder_secret() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(Path(__file__).parents[2] / "config.toml")
    assert info.value.problems == ["xmpp.secret: set a real shared secret"]


def test_cli_exits_with_ex_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[xmpp]\nport = 0\n")
    assert main(["--config", str(path)]) == EX_CONFIG
    err = capsys.readouterr().err
    assert "xmpp.port: not a TCP port" in err
    assert "xmpp.secret: missing" in err


def test_cli_check_mode(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("""[xmpp]
server = "127.0.0.1"
port = 5347
domain = "api.qtalk.test.org"
secret = "s3cret-for-tests"
hosts = ["qtalk.test.org"]
muc_domain = "conference.qtalk.test.org"
""")
    assert main(["--config", str(path), "--check"]) == 0
    path.write_text("not toml [")
    assert main(["--config", str(path), "--check"]) == EX_CONFIG


def test_store_synchronous_is_normal_or_full() -> None:
    assert parse_config(good()).store.synchronous == "normal"
    doc = good()
    doc["store"]["synchronous"] = "full"
    assert parse_config(doc).store.synchronous == "full"
    doc["store"]["synchronous"] = "extra"
    with pytest.raises(ConfigError, match=r"store\.synchronous: one of 'normal', 'full'"):
        parse_config(doc)
