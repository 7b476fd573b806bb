# The book in two commands:  make book  (build the site)   make test  (run every test).
# Both create .venv, install requirements.txt and fetch Fashion-MNIST first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
READY  := $(VENV)/.ready
SCALE  ?=
NB     ?=
BROWSER_PKGS := chromium fonts-wqy-microhei

export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test browser setup data execute stale student bench serve lab clean

book: setup data
	$(VENV)/bin/jupyter-book build . --warningiserror --keep-going --quiet
	@echo "The site is at $(CURDIR)/_build/html/index.html"

test: setup data browser
	CNN_BOOK_SCALE=smoke $(PY) -m pytest tests book --nbval-lax --nbval-current-env --durations=15 -q

setup: $(READY)

$(READY): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "the book needs Python 3.10 or newer, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -c "import torch, torchvision, jupyter_book, nbval, utils"
	@touch $(READY)

data: setup
	$(PY) tools/get_data.py

# Headless Chromium and a CJK font for the site tests (Debian packages; installed when root).
# tests/test_site.py drives Chromium over its DevTools pipe: no chromedriver, no pip package.
browser: setup
	@{ command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi wenquanyi; } || \
	  $(PY) tools/apt.py $(BROWSER_PKGS) || \
	  echo "chromium is not installed: the browser test will be skipped"

# make execute NB=book/lenet.ipynb SCALE=cpu   (no NB: every chapter; no SCALE: by device)
execute: setup data
	$(PY) tools/execute.py $(if $(NB),$(NB),--all) $(if $(SCALE),--scale $(SCALE),)

stale: setup
	$(PY) tools/execute.py --stale

student: setup
	$(PY) tools/student.py

bench: setup data
	$(PY) -c "import d2l" 2>/dev/null || \
	  { $(PY) -m pip install --quiet --no-deps d2l && $(PY) -m pip install --quiet pandas requests; }
	$(PY) tools/bench_lenet.py

lab: setup data
	$(PY) -m pip install --quiet "jupyterlab>=4"
	$(VENV)/bin/jupyter lab book/

serve:
	$(PYTHON) -m http.server --directory _build/html 8000

clean:
	rm -rf _build student
