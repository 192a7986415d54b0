"""qtalk-component: the QTalk/Startalk integration HTTP API as an XEP-0114 component."""

import hashlib
import json
from pathlib import Path

__version__ = "0.1.0"


def refuse_stale_compiled_modules(package: Path) -> None:
    """A module compiled in place (setup.py) shadows its .py: after an edit, the old code would
    run. Refuse a package whose compiled modules were not built from the sources beside them."""
    if not any(package.glob("**/*.cpython-*.so")):
        return  # pure Python
    manifest = package / "compiled-sources.json"
    built: dict[str, str] = json.loads(manifest.read_text()) if manifest.exists() else {}
    stale = [path for path, digest in built.items()
             if hashlib.sha256((package.parent / path).read_bytes()).hexdigest() != digest]
    if stale or not built:
        raise ImportError(
            f"compiled modules not built from their sources ({', '.join(stale) or 'no manifest'}):"
            " `make compiled` rebuilds them, `make clean-compiled` removes them")


refuse_stale_compiled_modules(Path(__file__).parent)
