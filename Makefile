# Entry points for developers and CI. From a bare Debian 12 (python3, pip, make, root),
# `make test` installs what it needs: the venv from pyproject.toml, the XMPP servers from Debian.

# The distribution's python3 where there is one: what a Debian server runs the daemon on
# (README "Install"), built with PGO and LTO. A python3 built without them (pyenv's, say,
# first on this machine's PATH) spent 14% more CPU in bench.hotpath (README "Benchmarks").
PYTHON ?= $(firstword $(wildcard /usr/bin/python3) python3)
VENV := .venv
# Reinstall only when pyproject.toml changes.
STAMP := $(VENV)/.installed

.PHONY: venv servers test lint demo bench clean distclean

venv: $(STAMP)

$(STAMP): pyproject.toml
	PYTHON=$(PYTHON) bash devenv/install-deps.sh venv
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test,dev]'
	touch $@

servers:
	bash devenv/install-deps.sh servers

test: venv servers
	$(VENV)/bin/python -m pytest -q

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

demo: venv servers
	$(VENV)/bin/python -m devenv.demo

# ~25 min, unpinned: the daemon against ejabberd's own HTTP API and two floor sidecars on
# loopback, with syscalls per request and a py-spy profile; writes bench/RESULTS.md.
bench: venv servers
	bash devenv/install-deps.sh bench
	$(VENV)/bin/python -m bench.run

clean:
	rm -rf run build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
