#!/bin/sh
# `make install`: install the recorder and the API for production (README "Running it
# in production").
#
#   PREFIX   (/opt/rtsp-patrol)      a fresh venv with a regular (non-editable) install,
#                                    and gunicorn.conf.py
#   CONFDIR  (/etc/rtsp-patrol)      config.json and environment, written only when missing
#   STATEDIR (/var/lib/rtsp-patrol)  state/ (status and control files) and output/ (clips)
#   UNITDIR  (/etc/systemd/system)   the three units (api, recorder, cluster worker), with
#                                    the paths above written in
#   CLUSTER  (0)                     1: with RQ and redis (cluster mode); kept anyway when
#                                    config.json has a "cluster" section
#   DESTDIR  (empty)                 a root to stage everything under (packaging, tests):
#                                    files land in $DESTDIR$PREFIX..., but name $PREFIX...
#   SERVICE_USER (rtsp-patrol)       created (system user) and given CONFDIR and STATEDIR,
#                                    when run as root without DESTDIR
#
# Running it again upgrades: the venv is rebuilt beside the old one and swapped in,
# gunicorn.conf.py and the units are replaced, config and state are left alone.
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
PREFIX=${PREFIX:-/opt/rtsp-patrol}
CONFDIR=${CONFDIR:-/etc/rtsp-patrol}
STATEDIR=${STATEDIR:-/var/lib/rtsp-patrol}
UNITDIR=${UNITDIR:-/etc/systemd/system}
SERVICE_USER=${SERVICE_USER:-rtsp-patrol}
DESTDIR=${DESTDIR:-}

for dir in "$PREFIX" "$CONFDIR" "$STATEDIR" "$UNITDIR"; do
  case $dir in
    /*) ;;
    *) echo "install: $dir: PREFIX, CONFDIR, STATEDIR and UNITDIR must be absolute" >&2; exit 2 ;;
  esac
done

say() { echo "install: $*"; }

command -v ffmpeg > /dev/null || say "warning: no ffmpeg (apt-get install ffmpeg): the recorder needs it"

# Text in the shipped files that names the default paths, replaced by the chosen ones.
render() {  # render SOURCE TARGET MODE
  sed -e "s|/opt/rtsp-patrol|$PREFIX|g" -e "s|/etc/rtsp-patrol|$CONFDIR|g" \
      -e "s|/var/lib/rtsp-patrol|$STATEDIR|g" -e "s|^User=rtsp-patrol|User=$SERVICE_USER|" \
      -e "s|^Group=rtsp-patrol|Group=$SERVICE_USER|" "$1" > "$2.tmp"
  chmod "$3" "$2.tmp"
  mv "$2.tmp" "$2"
}

install -d -m 755 "$DESTDIR$PREFIX" "$DESTDIR$UNITDIR"
install -d -m 750 "$DESTDIR$CONFDIR" "$DESTDIR$STATEDIR" "$DESTDIR$STATEDIR/state" \
  "$DESTDIR$STATEDIR/output"

# The venv is built under a temporary name, then its scripts are pointed at the final
# path (a venv names its own path in every script) and it replaces the old one at once.
venv=$PREFIX/venv
stage=$DESTDIR$PREFIX/venv.new
rm -rf "$stage"
say "creating a fresh venv in $venv"
"$PYTHON" -m venv "$stage"
# Cluster mode (README "Cluster mode") needs RQ and redis: installed with CLUSTER=1, and kept
# when the config already has a "cluster" section or the venv being replaced has RQ (an
# upgrade rebuilds the venv; a config broken just then must not lose them).
extras=
if [ "${CLUSTER:-0}" = 1 ] || [ -x "$DESTDIR$venv/bin/rq" ] || "$PYTHON" -c 'import json, sys
sys.exit(0 if "cluster" in json.load(open(sys.argv[1], encoding="utf-8-sig")) else 1)' \
    "$DESTDIR$CONFDIR/config.json" 2> /dev/null; then
  extras="[cluster]"
  say "cluster mode: installing RQ and redis too"
fi
"$stage/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile \
  "$SRC$extras"
grep -rlI -F "$stage" "$stage/bin" "$stage/pyvenv.cfg" | while IFS= read -r file; do
  sed -i "s|$stage|$venv|g" "$file"
done
rm -rf "$DESTDIR$venv.old"
if [ -e "$DESTDIR$venv" ]; then mv "$DESTDIR$venv" "$DESTDIR$venv.old"; fi
mv "$stage" "$DESTDIR$venv"
rm -rf "$DESTDIR$venv.old"
# Byte-code compiled once here (the service user cannot write the venv), naming the final paths.
"$DESTDIR$venv/bin/python" -m compileall -q -f -j 0 -s "$DESTDIR$venv" -p "$venv" \
  "$DESTDIR$venv/lib" > /dev/null

install -m 644 "$SRC/gunicorn.conf.py" "$DESTDIR$PREFIX/gunicorn.conf.py"
for unit in rtsp-patrol-api.service rtsp-patrol-recorder.service rtsp-patrol-worker.service; do
  render "$SRC/deploy/$unit" "$DESTDIR$UNITDIR/$unit" 644
done
say "units in $UNITDIR: rtsp-patrol-api.service rtsp-patrol-recorder.service" \
  "rtsp-patrol-worker.service (cluster worker hosts only)"

# Config and settings are the operator's: never overwritten.
if [ -e "$DESTDIR$CONFDIR/config.json" ]; then
  say "keeping $CONFDIR/config.json"
else
  render "$SRC/deploy/production-config.json" "$DESTDIR$CONFDIR/config.json" 640
  say "wrote $CONFDIR/config.json (no cameras yet; clips go to $STATEDIR/output)"
fi
# Read by systemd itself (root), never by the services: it may hold a token.
if [ ! -e "$DESTDIR$CONFDIR/environment" ]; then
  render "$SRC/deploy/environment" "$DESTDIR$CONFDIR/environment" 600
fi

if [ -n "$DESTDIR" ] || [ "$(id -u)" != 0 ]; then
  say "not root or DESTDIR set: create user $SERVICE_USER and give it $CONFDIR and $STATEDIR yourself"
  exit 0
fi
if ! getent passwd "$SERVICE_USER" > /dev/null; then
  useradd --system --user-group --home-dir "$STATEDIR" --no-create-home \
    --shell /usr/sbin/nologin "$SERVICE_USER"
  say "created system user $SERVICE_USER"
fi
# Not recursive: the output tree may hold millions of clips, all already the service's.
chown "$SERVICE_USER:$SERVICE_USER" "$CONFDIR" "$CONFDIR/config.json" \
  "$STATEDIR" "$STATEDIR/state" "$STATEDIR/output"
say "done; next: systemctl daemon-reload && systemctl enable --now rtsp-patrol-recorder rtsp-patrol-api"
