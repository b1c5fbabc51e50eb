# Territoria — the two set-up commands:  `make demo` (main job, embedded defaults)  and  `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= .territoria

.PHONY: install system-deps test-deps demo test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python system-deps
	$(BIN)/pip install -q -e ".[dev]"

# OCR needs Debian's tesseract with the French model; browser tests need Debian's Chromium and the npm
# dev packages (axe-core, playwright-core). Installed when running as root, otherwise say what to install.
system-deps:
	@command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx fra || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && apt-get install -y -qq tesseract-ocr tesseract-ocr-fra; \
	  else echo "Installez tesseract-ocr et tesseract-ocr-fra (sudo apt-get install tesseract-ocr tesseract-ocr-fra)"; fi; }

test-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver; \
	  else echo "Tests du navigateur : installez chromium et chromium-driver (sinon ils sont ignorés)"; fi; }
	@if [ -f package.json ] && command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error; fi

demo: install
	$(BIN)/territoria --data-dir $(DATA) ingest samples/ --source demo
	$(BIN)/territoria --data-dir $(DATA) search "ma voiture a été embarquée par la fourrière, comment la récupérer ?" --k 3

test: install test-deps
	$(BIN)/python -m pytest tests

bench: install
	$(BIN)/python bench/ingest.py --data-dir $(DATA)-bench && $(BIN)/python bench/retrieval.py --data-dir $(DATA)-bench

clean:
	rm -rf $(VENV) $(DATA) build *.egg-info
