# make demo: set up from nothing, draw a grid from the shipped DCGAN export (nothing trained), then train
#            DCGAN for a wall-clock budget (DEMO_SECONDS, 5 minutes), export, and draw its grid beside it.
# make test: set up from nothing (Fashion-MNIST and the fortunes via apt-get when root) and run the fast suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
DEMO_WORKDIR ?= runs/demo
DEMO_SECONDS ?= 300
# make test and make test-integration run one pytest-xdist worker per core (whole files per worker,
# so a module's shared fixtures are built once).
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist=loadfile

.PHONY: text-data browser setup data demo play serve-local test test-integration test-slow benchmark clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate setup.cfg pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

setup: $(VENV)/.installed

# The full Fashion-MNIST comes from Debian's dataset-fashion-mnist when apt is usable; without
# it zoo falls back to the 2,000-image subset shipped in zoo/data (and says so). The text models'
# offline corpus is Debian's fortunes (the tests write their own corpus and do not need it).
data:
	@if [ ! -f $(FASHION_MNIST) ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) || echo "apt-get failed: using the shipped subset"; \
	  else echo "no root apt-get: using the shipped 2,000-image subset"; fi; \
	fi

text-data:
	@if [ ! -d /usr/share/games/fortunes ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && apt-get install -y -qq fortunes) || echo "apt-get failed: the tests that read the installed fortunes skip"; \
	  else echo "install Debian's fortunes package (apt-get install fortunes) or use --dataset=text:/path/to/file.txt"; fi; \
	fi

# Debian's chromium and chromium-driver for the playground's browser test (skipped without them).
browser:
	@if [ ! -x /usr/bin/chromedriver ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && apt-get install -y -qq chromium chromium-driver) || echo "apt-get failed: the browser test skips"; \
	  else echo "install Debian's chromium and chromium-driver for the browser test (it skips without them)"; fi; \
	fi

# make play: the browser playground over every shipped export (and runs/*/exports) on
# http://127.0.0.1:7860; "keep" saves samples into runs/kept (an image-folder dataset).
play: setup
	$(BIN)/zoo-play --exports=exports --runs=runs --keep_dir=runs/kept

demo: setup
	@echo "== 1/3: 64 samples from the shipped export exports/dcgan_fashion_mnist (nothing trained) -> grid_shipped.png"
	$(BIN)/zoo-sample --export=exports/dcgan_fashion_mnist --num=64 --seed=0 --out=grid_shipped.png
	@$(MAKE) --no-print-directory data
	@echo "== 2/3: training DCGAN for a $(DEMO_SECONDS) s wall-clock budget in $(DEMO_WORKDIR) (a rerun trains another budget)"
	$(BIN)/zoo-train --model=dcgan --dataset=fashion_mnist --workdir=$(DEMO_WORKDIR) \
	  --export_dir=$(DEMO_WORKDIR)/exports --max_train_seconds=$(DEMO_SECONDS)
	@echo "== 3/3: 64 samples (the same seeds) from the new export -> grid.png; both side by side -> demo.png"
	$(BIN)/zoo-sample --export=$(DEMO_WORKDIR)/exports/dcgan_fashion_mnist --num=64 --seed=0 --out=grid.png
	$(BIN)/python tools/side_by_side.py grid_shipped.png "shipped export" grid.png "your $(DEMO_SECONDS) s run" --out=demo.png

# TF Serving's APIs on 8500 (gRPC) and 8501 (REST) from zoo's stand-in server, where Docker cannot
# run: for trying clients and zoo-sample --server; `docker compose up` is the real server.
serve-local: setup
	$(BIN)/python -m zoo.serving.local_server exports --grpc_port=8500 --rest_port=8501 --preload --enable_batching

# make test: the fast tier (what a contributor runs before each commit); make test-integration: the
# tests that need fresh processes or repeat a check per model family. CI (.ci/run) runs both.
test: setup data text-data browser
	$(BIN)/python -m pytest -q $(XDIST) --durations=25

test-integration: setup data text-data browser
	$(BIN)/python -m pytest -q $(XDIST) --durations=25 -m integration

test-slow: setup data text-data
	$(BIN)/python -m pytest -q -m slow

benchmark: setup data
	$(BIN)/python benchmarks/train_throughput.py

clean:
	rm -rf runs grid.png grid_shipped.png demo.png
