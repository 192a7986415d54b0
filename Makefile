# Entry points for developers and CI. From a bare Debian 12 (python3, pip, make, root),
# `make test` installs what it needs: the venv from pyproject.toml, the XMPP servers from Debian.

# The distribution's python3 where there is one: what a Debian server runs the daemon on
# (README "Install"), built with PGO and LTO. A python3 built without them (pyenv's, say,
# first on this machine's PATH) spent 14% more CPU in bench.hotpath (README "Benchmarks").
PYTHON ?= $(firstword $(wildcard /usr/bin/python3) python3)
VENV := .venv
# Reinstall only when pyproject.toml changes.
STAMP := $(VENV)/.installed

# The request path's modules compiled with mypyc (setup.py lists them), rebuilt when a source
# changes; `import component` refuses compiled modules older than their sources.
COMPILED := $(VENV)/.compiled

.PHONY: venv compiled servers test lint demo bench clean clean-compiled distclean

venv: $(STAMP)

# Installed as pure Python (editable); the compiled modules are built in place by `compiled`.
$(STAMP): pyproject.toml
	PYTHON=$(PYTHON) bash devenv/install-deps.sh venv
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	QTALK_PURE_PYTHON=1 $(VENV)/bin/pip install -q -e '.[test,dev]'
	touch $@

compiled: $(COMPILED)

$(COMPILED): $(STAMP) setup.py $(wildcard component/*.py component/*/*.py)
	$(VENV)/bin/python setup.py -q build_ext --inplace
	touch $@

servers:
	bash devenv/install-deps.sh servers

test: compiled servers
	$(VENV)/bin/python -m pytest -q

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

demo: compiled servers
	$(VENV)/bin/python -m devenv.demo

# ~25 min, unpinned: the daemon against ejabberd's own HTTP API and two floor sidecars on
# loopback, with syscalls per request and a py-spy profile; writes bench/RESULTS.md.
bench: compiled servers
	bash devenv/install-deps.sh bench
	$(VENV)/bin/python -m bench.run

clean-compiled:
	find component -name '*.cpython-*.so' -delete
	rm -f *__mypyc.cpython-*.so component/compiled-sources.json $(COMPILED)

clean: clean-compiled
	rm -rf run build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
