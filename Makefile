# avbench: `make bench` runs a real benchmark, `make test` runs the tests.
# Both create .venv and install avbench into it on first use.

PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11 python3.10; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null && echo $$p && break; done)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.avbench-installed
ARGS ?=
EXTRAS ?= cpu,data,dev
# ONNX Runtime builds that must go before these extras install theirs (one `onnxruntime` module).
ORT_OTHERS = $(if $(findstring gpu,$(EXTRAS)),onnxruntime onnxruntime-openvino,onnxruntime-gpu)

.DEFAULT_GOAL := help
.PHONY: help setup weights bench test test-fast sweep ui lint clean

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP) ## Create .venv and install avbench with its dev extra (first use only)

# One line per step; pip says only what goes wrong. `make setup PIP_QUIET=` shows pip's output.
PIP_QUIET ?= --quiet
PIP := $(PY) -m pip $(PIP_QUIET) --disable-pip-version-check

$(STAMP): pyproject.toml setup.py
	@test -n "$(PYTHON)" || { echo "avbench needs Python 3.10-3.13 (python3 not found in that range)"; exit 1; }
	@echo "avbench setup [1/4] virtual environment $(VENV) ($$($(PYTHON) --version))"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install --upgrade pip
	@# onnxruntime-openvino (Linux x86-64, the cpu extra), onnxruntime and onnxruntime-gpu
	@# install one `onnxruntime` module: the builds other than the one EXTRAS wants go first,
	@# so an older venv does not end up with two (docs/gpu.md).
	@echo "avbench setup [2/4] ONNX Runtime builds other than the one for EXTRAS=$(EXTRAS) removed"
	@$(PY) -c "import platform, sys; sys.exit(not (sys.platform == 'linux' and platform.machine() == 'x86_64'))" \
		&& $(PIP) uninstall --yes onnxruntime 2>/dev/null || true
	@$(PIP) uninstall --yes $(ORT_OTHERS) 2>/dev/null || true
	@echo "avbench setup [3/4] avbench with extras [$(EXTRAS)] (PyTorch is the large download: minutes, once)"
	@# setuptools' notice on every editable install of a remapped package (conf/ is avbench.conf:
	@# "be careful with folders ... with the same name as your package") is not a problem here.
	@PYTHONWARNINGS="ignore:Editable installation" $(PIP) install --progress-bar off -e '.[$(EXTRAS)]'
	@# pipeline=hibari's model: the wheel without its declared dependency on the plain
	@# onnxruntime, which would install a second onnxruntime module (docs/load.md).
	@echo "avbench setup [4/4] pipeline=hibari's model (hibari-tts, without its onnxruntime)"
	@$(PIP) install --progress-bar off --no-deps 'hibari-tts==0.2.1'
	@touch $(STAMP)
	@echo "avbench setup done: $(VENV) (make bench runs a benchmark, make help lists the targets)"

weights: setup ## Fetch, verify and convert the pretrained weights once (docs/models.md)
	$(PY) -m avbench.models.fetch_all

bench: setup ## One benchmark on the embedded defaults (add ARGS="preset=fast ...")
	$(PY) -m avbench $(ARGS)

# Two pytest-xdist workers (tests reading one session run stay on one worker: --dist
# loadgroup); sources compiled once, as PYTHONDONTWRITEBYTECODE would have every test's
# subprocess compile them again. TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2
test: setup ## Run the test suite (ARGS are passed to pytest)
	@$(PY) -m compileall -q avbench kernels_triton tests benchmarks
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(ARGS)

test-fast: setup ## Run the tests not marked slow
	$(PY) -m pytest -m "not slow" $(ARGS)

sweep: setup ## Four-cell sweep: preset fast,quality x precision fp16,fp32
	$(PY) -m avbench -m preset=fast,quality precision=fp16,fp32 $(ARGS)

ui: setup ## Open the MLflow UI on the local store (http://127.0.0.1:5000)
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db

lint: setup ## ruff
	$(VENV)/bin/ruff check avbench kernels_triton tests

clean: ## Remove generated output (keeps .venv)
	rm -rf multirun outputs mlruns mlartifacts mlflow.db .pytest_cache .ruff_cache
