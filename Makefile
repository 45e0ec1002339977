# Short targets a newcomer can read in a minute. `make test` works on a fresh
# Debian 12 machine: it installs the system packages (as root) and the venv.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
# nginx and systemd (systemd-analyze): the tests check deploy/'s nginx site and units.
# fonts-droid-fallback: the contact sheet's Chinese status names (boxes without it).
APT_PKGS := ffmpeg python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
            gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad python3-venv \
            nginx systemd fonts-droid-fallback
# Only the tests use these: VLC as an RTSP server that is not ours (RTP over UDP only);
# Chromium and its driver for the console's browser tests (Selenium is given their paths);
# Redis for cluster mode's tests (each test starts its own on a free loopback port).
TEST_APT_PKGS := vlc-bin vlc-plugin-base chromium chromium-driver redis-server
# `make install` (production, README "Running it in production"): where things go.
# DESTDIR stages everything under another root (packaging, tests); the files still name
# the paths above it.
PREFIX   ?= /opt/rtsp-patrol
CONFDIR  ?= /etc/rtsp-patrol
STATEDIR ?= /var/lib/rtsp-patrol
UNITDIR  ?= /etc/systemd/system
DESTDIR  ?=

.PHONY: deps test-deps venv test run api recorder install bench bench-quick clean

deps:
	@if ! command -v ffmpeg >/dev/null || ! /usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer','1.0')" 2>/dev/null \
	   || ! dpkg -s $(APT_PKGS) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PKGS); \
	  else echo "missing system packages; run as root: apt-get install $(APT_PKGS)" >&2; exit 1; fi; fi

test-deps: deps
	@if ! dpkg -s $(TEST_APT_PKGS) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $(TEST_APT_PKGS); \
	  else echo "missing test packages; run as root: apt-get install $(TEST_APT_PKGS)" >&2; exit 1; fi; fi

$(BIN)/activate: setup.cfg pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,cluster]'
	touch $@

venv: $(BIN)/activate

# The suite in TEST_JOBS processes (pytest-xdist; `make test TEST_JOBS=0` runs it in this one).
# Most tests wait on real time (clips, timeouts, restarts), not on the CPU, so 4 on 2 cores.
TEST_JOBS ?= 4

test: test-deps venv
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist worksteal

run: deps venv
	$(BIN)/python scripts/run_demo.py $(DEMO_ARGS)

# The development targets use the demo's own config (.demo/config.json, copied from
# the example on first use, like `make run`): the tracked config.json stays an example.
DEV_CONFIG = .demo/config.json

$(DEV_CONFIG): | venv
	$(BIN)/python scripts/run_demo.py --prepare-only

api: venv $(DEV_CONFIG)
	$(BIN)/python -m app --config $(DEV_CONFIG)

recorder: venv $(DEV_CONFIG)
	$(BIN)/python -m recorder --config $(DEV_CONFIG)

install:
	PYTHON=$(PY) PREFIX=$(PREFIX) CONFDIR=$(CONFDIR) STATEDIR=$(STATEDIR) UNITDIR=$(UNITDIR) \
	  DESTDIR=$(DESTDIR) sh deploy/install.sh

# test-deps: the cluster benchmarks start their own redis-server, like the tests.
bench: test-deps venv
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk; } \
	  || { echo "bench needs wrk: apt-get install wrk" >&2; exit 1; }
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-quick:
	$(MAKE) bench BENCH_ARGS=--quick

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
