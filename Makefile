# signkd — the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
# Pinned so that this machine installs its local CPU build in seconds; override for CUDA builds,
# e.g. `make test TORCH_SPEC='torch==2.5.1'`. pyproject.toml itself keeps a range.
TORCH_SPEC ?= torch==2.13.0
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.signkd-installed
SEED   ?= 0
# The demo's models are tiny: one intra-op thread per process is faster than two fighting over
# small kernels (measured here: a 2-thread dialogue-teacher epoch took several times longer).
DEMO_THREADS ?= 1
# Independent stages (teachers, baselines) train side by side, one process per core.
DEMO_JOBS ?= 2

.PHONY: install demo demo-quick test serve bench bench-scale bench-demo bench-text clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(VENV)/bin/python pyproject.toml
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test]"
	-$(PY) -m pip install --quiet -e ".[fast]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m signkd demo --preset demo --out runs/demo --seed $(SEED) --threads $(DEMO_THREADS) --jobs $(DEMO_JOBS)

demo-quick: $(STAMP)
	$(PY) -m signkd demo --preset quick --out runs/demo-quick --seed $(SEED) --threads $(DEMO_THREADS) --jobs $(DEMO_JOBS)

test: $(STAMP)
	$(PY) -m pytest tests
	$(VENV)/bin/lint-imports   # the import layers of .importlinter

# The page and JSON API of `signkd serve` on the demo's distilled students (SLR, and SLT when present).
SERVE_RUN ?= runs/demo
serve: $(STAMP)
	@if [ -f $(SERVE_RUN)/slr_distilled/best.pt ]; then \
	  $(PY) -m signkd serve $(SERVE_RUN)/slr_distilled/best.pt \
	    $$([ -f $(SERVE_RUN)/slt_distilled/best.pt ] && echo $(SERVE_RUN)/slt_distilled/best.pt); \
	else \
	  echo "make serve: no $(SERVE_RUN)/slr_distilled/best.pt; train one with 'make demo'" \
	       "(or 'make demo-quick' and then 'make serve SERVE_RUN=runs/demo-quick')"; exit 1; \
	fi

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

# The demo's claim over 5 seeds with its controls (and the SLT pair at 3): mean ± std, goals, bench_demo.json.
bench-demo: $(STAMP)
	$(PY) benchmarks/demo_seeds.py --seeds 0 1 2 3 4 --threads $(DEMO_THREADS) --jobs $(DEMO_JOBS)

bench-scale: $(STAMP)
	$(PY) benchmarks/bench_scale.py

bench-text: $(STAMP)
	$(PY) benchmarks/text_teachers.py --jobs 2 --threads 1

clean:
	rm -rf runs build *.egg-info
