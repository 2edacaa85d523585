#!/usr/bin/env bash
# Make Debian's Chromium available for the browser tests (tests/console/, Playwright
# for Python drives /usr/bin/chromium). Never `playwright install`: it downloads a
# browser build from a CDN, which these machines and CI cannot reach.
set -euo pipefail

CHROMIUM="${CONVOFLOW_CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium (for the browser tests)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq chromium >&2
  [ -x "$CHROMIUM" ] && exit 0
fi
echo "error: the browser tests need Chromium at $CHROMIUM." >&2
echo "  Debian/Ubuntu: sudo apt-get install chromium   (or set CONVOFLOW_CHROMIUM to its path)" >&2
exit 1
