#!/usr/bin/env bash
# Make Node.js >= 18 and npm available to build the web console (web/).
# Installed: use it. Missing or too old and we are root with apt-get: install Debian's
# nodejs and npm. Otherwise: say what to install and fail (the console is part of the
# product; `convoflow serve` without it answers `/` with how to build it).
set -euo pipefail

node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'
}

node_ok && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's nodejs and npm (to build the web console)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq nodejs npm >&2
  node_ok && exit 0
fi
echo "error: building the web console needs Node.js >= 18 with npm." >&2
echo "  Debian/Ubuntu: sudo apt-get install nodejs npm    (or see https://nodejs.org)" >&2
exit 1
