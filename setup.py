"""The request path compiled with mypyc (C extension modules beside the .py files).

`pip install .` builds them (gcc and Debian's python3-dev are needed); `make compiled` builds
them in place in a checkout, where each shadows its .py until `make clean-compiled`. With
QTALK_PURE_PYTHON=1 the package builds as pure Python and runs the same code interpreted.

Measured: bench.hotpath --carbons off runs 95k instructions a request compiled, 195k for the
same code interpreted (178k for the interpreted code before it was compiled); under load
(bench/RESULTS.md) the daemon spends 31-37 µs a request compiled, 56 before.
No msgspec Struct is defined in a compiled module: mypyc drops the keywords of a class
statement (python/mypy#21938), where Structs take their options (frozen, gc). The values
compiled code reads field by field (Request, Answer, Facts, StartalkFields, Jid, Stanza, the
outbox's rows, the message service's requests and results) are plain classes with `__init__`
and Final fields instead, native once compiled; a Struct's field read from compiled code is a
generic attribute lookup (~130 instructions), and a dataclass's generated `__init__` runs
interpreted. The Structs left are in interpreted modules: the request bodies, which msgspec
decodes (http/shapes.py), and values read once or twice a request (DeliveryReport).
The compiled modules' constants are Final: mypyc folds them into the code or keeps them in C
statics, where a module global is a dict lookup at every read (~100 instructions; 3k a
request in all, bench.hotpath).
`component/__init__.py` refuses to import a checkout whose compiled modules were built from
other sources (compiled-sources.json).
"""

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from setuptools import setup

COMPILED = [
    "component/http/audit.py",
    "component/http/auth.py",
    "component/http/body.py",
    "component/http/envelope.py",
    "component/http/listener.py",
    "component/http/messages.py",
    "component/http/pipeline.py",
    "component/http/protocol.py",
    "component/http/replies.py",
    "component/http/route.py",
    "component/jid.py",
    "component/log_lines.py",
    "component/metrics.py",
    "component/numbers.py",
    "component/services/delivery.py",
    "component/services/hosts.py",
    "component/services/messages.py",
    "component/services/recipients.py",
    "component/xmpp/fragment.py",
    "component/xmpp/link.py",
    "component/xmpp/stanza_values.py",
    "component/xmpp/stanzas.py",
    "component/xmpp/xml.py",
]
MANIFEST = Path("component/compiled-sources.json")


def compiled_modules() -> list[Any]:
    if os.environ.get("QTALK_PURE_PYTHON"):
        MANIFEST.unlink(missing_ok=True)
        return []
    from mypyc.build import mypycify

    MANIFEST.write_text(json.dumps(
        {path: hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in COMPILED},
        indent=1) + "\n")
    return mypycify(COMPILED, opt_level="3")


setup(ext_modules=compiled_modules(), package_data={"component": ["compiled-sources.json"]})
