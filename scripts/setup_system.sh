#!/usr/bin/env bash
# Installs the Debian packages clipjury needs, and only those that are missing: on a machine that has
# them all this does nothing (no apt-get update, no sudo). Called by `make run` and `make test`.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
missing=()

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
have_cmd() { command -v "$1" >/dev/null 2>&1; }
need_pkg() { have_pkg "$1" || missing+=("$1"); }

have_cmd "$PYTHON" || missing+=(python3)
have_cmd ffmpeg && have_cmd ffprobe || need_pkg ffmpeg
have_cmd redis-server || need_pkg redis-server
# The production profile's reverse proxy; its test (tests/test_production.py) runs a private nginx.
have_cmd nginx || [ -x /usr/sbin/nginx ] || need_pkg nginx
have_cmd chromium || have_cmd chromium-browser || need_pkg chromium
# The web UI and the browser tests show Chinese: without a CJK font Chromium draws boxes.
need_pkg fonts-noto-cjk
# WeasyPrint (award certificates) lays text out with Pango and subsets fonts with HarfBuzz.
need_pkg libpango-1.0-0
need_pkg libpangoft2-1.0-0
need_pkg libharfbuzz-subset0
# The load generator of the benchmarks (bench/bench_likes.py, bench/bench_gallery.py).
have_cmd wrk || need_pkg wrk
# Debian splits `venv`'s pip bootstrap into python3-venv.
{ have_cmd "$PYTHON" && "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; } || need_pkg python3-venv
# Node may come from Debian or elsewhere (nodesource ships npm inside nodejs): only fill what is absent.
have_cmd node || need_pkg nodejs
have_cmd npm || need_pkg npm

if ((${#missing[@]})); then
    if ! have_cmd apt-get; then
        echo "clipjury needs these Debian packages, and this machine has no apt-get: ${missing[*]}" >&2
        exit 1
    fi
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        have_cmd sudo || { echo "installing ${missing[*]} needs root, and sudo is missing" >&2; exit 1; }
        sudo=(sudo)
    fi
    echo "installing Debian packages: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$version" != "3.11" ]; then
    echo "clipjury needs Python 3.11 (Debian 12's python3); $PYTHON is $version. Run: make PYTHON=/path/to/python3.11 ..." >&2
    exit 1
fi
