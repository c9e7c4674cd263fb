# make run: install, index the bundled corpus, serve http://127.0.0.1:7860
# make test: install (with the test browser), run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser run test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU build of torch first: any other torch pulls several GB of CUDA packages
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test,eval]"
	touch $@

install: $(STAMP)

# Debian's chromium for the browser tests (Playwright drives it; it downloads no browser)
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

run: install
	$(BIN)/corpus-qa serve

test: install browser
	$(BIN)/python -m pytest -q

clean:
	rm -rf .corpus-qa .pytest_cache
