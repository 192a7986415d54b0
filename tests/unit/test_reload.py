"""What a reload applies and what it keeps (component/reload.py); the process-level tests
are tests/integration/test_reload.py."""

from __future__ import annotations

import pytest

from component.config import ConfigError
from component.reload import plan
from tests.unit.http_apps import integrator, make_config


def test_reloadable_keys_are_applied_and_the_rest_kept_and_named() -> None:
    running = make_config(integrators=[integrator("a", "ta"), integrator("b", "tb")])
    wanted = make_config(
        integrators=[integrator("b", "tb", rate=5), integrator("c", "tc")],
        limits={"max_items": 3, "max_inbound_stanza_bytes": 1000},
        log={"level": "DEBUG", "json": True}, adhoc={"admins": ["boss@qtalk.test.org"]},
        http={"always_200": True, "port": 10099, "bind": "127.0.0.2"},
        xmpp={"secret": "another-secret", "ping_interval": 3},
        store={"path": "elsewhere.db", "synchronous": "full"}, delivery={"window": 100})
    result = plan(running, wanted)
    assert result.applied == (
        "http.always_200", "limits.max_items", "log.level", "log.json", "adhoc.admins",
        "integrators (added: c; removed: a; changed: b)")
    assert result.kept == (
        "xmpp.secret", "xmpp.ping_interval", "http.bind", "http.port", "store.path",
        "store.synchronous", "limits.max_inbound_stanza_bytes", "delivery.window")
    config = result.config
    assert (config.limits.max_items, config.log, config.adhoc.admins, config.http.always_200,
            [i.name for i in config.integrators]) == (
        3, wanted.log, frozenset({"boss@qtalk.test.org"}), True, ["b", "c"])
    assert (config.xmpp, config.store, config.delivery) == (
        running.xmpp, running.store, running.delivery)
    assert (config.http.port, config.limits.max_inbound_stanza_bytes) == (
        running.http.port, running.limits.max_inbound_stanza_bytes)


def test_the_same_file_applies_nothing() -> None:
    config = make_config(integrators=[integrator("a", "ta")])
    assert plan(config, make_config(integrators=[integrator("a", "ta")])) == plan(config, config)
    assert plan(config, config).applied == plan(config, config).kept == ()


def test_no_reload_opens_the_api_on_a_public_address() -> None:
    """Valid alone (loopback, no integrators), but the running bind stays public."""
    running = make_config(integrators=[integrator("a", "ta")], http={"bind": "192.0.2.1"})
    with pytest.raises(ConfigError, match=r"http\.bind: no \[\[integrators\]\]"):
        plan(running, make_config(integrators=[]))
