# flowers-transfer: the two commands are `make tutorial` and `make test`.
# Both create .venv and install the pinned dependencies first.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# TensorFlow's C++ INFO lines ("oneDNN custom operations are on", ...) are noise here.
export TF_CPP_MIN_LOG_LEVEL ?= 1

.PHONY: help venv lint test check-student tutorial accuracy checked-outputs bench own-photos student slides html browser colab-links clean

help:
	@echo "make venv             the virtual environment .venv with the pinned packages (every other target makes it too)"
	@echo "make tutorial         run every lesson (profile: FLOWERS_PROFILE, default full) into build/"
	@echo "make lint             ruff on the helpers, tools, tests, benchmark and lessons (pyproject.toml)"
	@echo "make test             make lint, then unit tests + every notebook under nbval, smoke profile, offline"
	@echo "make check-student    run the whole student edition under nbval (about 3 min; make test proves it from its own run)"
	@echo "make accuracy         lessons 01, 05-07 on seeds 1, 2, 3 -> build/accuracy.json and accuracy.md (REPEATS=3: three training runs each; SEEDS=\"1 7\": other splits)"
	@echo "make checked-outputs  re-execute the lessons (smoke) and store the checked outputs"
	@echo "make bench            time pipelines, transfer vs cached features, fine-tune cuts, backbones -> build/bench.json"
	@echo "make own-photos       development: a learner-like folder of 6 real species from ../shared -> data/own-photos"
	@echo "make student          the lessons with each solution replaced by a placeholder -> build/student/"
	@echo "make slides           offline reveal.js slide decks of the lessons -> build/slides/index.html (needs npm once)"
	@echo "make html             the executed lessons as a browsable course -> build/site/index.html"
	@echo "make colab-links      put Open-in-Colab links and the course's git address into the lessons ([project.urls] in pyproject.toml)"
	@echo "make browser          install Debian's headless Chromium and ChromeDriver for the slide test (root)"
	@echo "make clean            remove build/ (data/ is kept: delete it yourself to re-download)"

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed (found %s)." % sys.version.split()[0])'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e .
	touch $(STAMP)

venv: $(STAMP)

# reveal.js for the offline slide decks, pinned in package.json and package-lock.json, from npm.
REVEAL := node_modules/reveal.js/dist/reveal.js
$(REVEAL): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make slides needs npm once, to install reveal.js (Debian: apt-get install npm)."; exit 1; }
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

# pytest-xdist workers for `make test` (conftest.py keeps the lessons in order on one of them).
TEST_WORKERS ?= 2

lint: $(STAMP)
	$(PY) -m ruff check .

# Without npm, reveal.js is not installed and the slide tests skip, saying so.
test: lint
	@$(MAKE) --no-print-directory $(REVEAL) || echo "reveal.js not installed: the slide tests will skip."
	FLOWERS_PROFILE=smoke $(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -n $(TEST_WORKERS) --durations=15

# The student edition, run top to bottom (make test proves it runs from its own lesson run).
check-student: $(STAMP)
	FLOWERS_CHECK_STUDENT=1 $(PY) -m pytest tests/test_instructor_kit.py -k student_edition_runs -p no:cacheprovider -q

tutorial: $(STAMP)
	$(PY) -m tools.run_lessons

# REPEATS=N trains each split N times (FLOWERS_RUN 1..N), to measure the spread between runs;
# SEEDS picks the splits, FIRST_RUN the first run's number (to add runs to earlier ones).
REPEATS ?= 1
SEEDS ?= 1 2 3
FIRST_RUN ?= 1
accuracy: $(STAMP)
	$(PY) -m tools.accuracy --seeds $(SEEDS) --repeats $(REPEATS) --first-run $(FIRST_RUN)

checked-outputs: $(STAMP)
	FLOWERS_PROFILE=smoke $(PY) -m tools.nbtool regen notebooks/*.ipynb

bench: $(STAMP)
	$(PY) -m benchmarks.bench

# A folder of "your own photos" from the real archive (development machines; never commit it).
own-photos: $(STAMP)
	$(PY) -m tools.own_photos --archive ../shared/flowers17/17flowers.tgz --out data/own-photos

student: $(STAMP)
	$(PY) -m tools.student

slides: $(STAMP) $(REVEAL)
	$(PY) -m tools.course_site slides

html: $(STAMP)
	$(PY) -m tools.course_site html

colab-links: $(STAMP)
	$(PY) -m tools.colab_links

# Headless Chromium and its driver, from Debian's packages, for tests/test_slides_browser.py.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then \
		echo "Chromium and ChromeDriver are installed."; \
	else \
		apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null \
		|| { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null; }; \
	fi

clean:
	rm -rf build
