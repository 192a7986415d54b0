"""`qtalk-component --config FILE` (also `python -m component`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvloop

from component.app import serve
from component.config import EX_CONFIG, ConfigError, load_config
from component.logs import setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qtalk-component", description=__doc__)
    parser.add_argument("--config", type=Path, default=Path("config.toml"),
                        help="the TOML configuration file (default: ./config.toml)")
    parser.add_argument("--check", action="store_true",
                        help="only check the configuration and exit")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"qtalk-component: bad configuration in {args.config}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EX_CONFIG
    if args.check:
        print("configuration OK")
        return 0
    setup_logging(config.log)
    uvloop.run(serve(config, args.config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
