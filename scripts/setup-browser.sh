#!/usr/bin/env bash
# The browser that the browser tests (tests/test_app.py, marker `browser`) drive through Playwright:
# Debian's chromium at /usr/bin/chromium (or $CREDSIM_CHROMIUM). Never a browser build downloaded
# by Playwright (`playwright install`): the tests launch this one.
#
# Fast no-op when chromium is there. As root it installs it with apt-get (CI runs as root on a fresh
# machine: `make test` calls this script). Without root it says what to run and exits 0: the browser
# tests are then skipped, except under CI (CI set), where a missing browser fails them.
set -euo pipefail

CHROMIUM="${CREDSIM_CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-browser: no browser at $CHROMIUM, and this is not root on Debian: the browser tests will be skipped." >&2
    echo "setup-browser: to run them: sudo apt-get install chromium   (or point CREDSIM_CHROMIUM at a chromium)" >&2
    [ -z "${CI:-}" ] || exit 1
    exit 0
fi

echo "setup-browser: installing Debian's chromium with apt-get (a minute or two)"
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
[ -x "$CHROMIUM" ] || { echo "setup-browser: apt-get installed chromium, but $CHROMIUM is missing" >&2; exit 1; }
echo "setup-browser: $("$CHROMIUM" --version 2>/dev/null | head -n1) in $((SECONDS - start)) s"
