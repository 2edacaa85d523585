#!/usr/bin/env bash
# Make a PostgreSQL server available for the test suite and print its admin URL.
#
# 1. A server already answering at $PGHOST:$PGPORT (default 127.0.0.1:5432) as user
#    postgres with trust auth: use it (tests create and drop their own databases).
# 2. Debian's cluster installed but stopped: start it.
# 3. Nothing installed and we are root with apt-get: install Debian's postgresql, start it.
# 4. Otherwise: a private cluster under .pgdata/ on port 55432, if initdb exists.
# Anything else fails loudly: the PostgreSQL half of the suite is never skipped.
# In every case PostgreSQL's initdb and pg_ctl must be installed too, even when a server
# already answers (a CI service container): tests/durability/test_db_faults.py runs a
# throwaway cluster of its own. Installed from Debian's packages when missing (as root).
set -euo pipefail

HOST="${PGHOST:-127.0.0.1}"
PORT="${PGPORT:-5432}"
URL="postgresql://postgres@${HOST}:${PORT}/postgres"

can_connect() {
  command -v psql >/dev/null 2>&1 || return 1
  psql "postgresql://postgres@$1:$2/postgres" -Atqc 'select 1' >/dev/null 2>&1
}

have_binaries() {
  if [ -n "${CONVOFLOW_TEST_PG_BINDIR:-}" ]; then
    [ -x "$CONVOFLOW_TEST_PG_BINDIR/initdb" ] && [ -x "$CONVOFLOW_TEST_PG_BINDIR/pg_ctl" ]
    return
  fi
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 ||
    { command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; }
}

install_postgresql() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 || {
    apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; }
}

if can_connect "$HOST" "$PORT"; then
  if ! have_binaries; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing PostgreSQL's binaries (initdb, pg_ctl) from Debian's packages" >&2
      install_postgresql
    else
      echo "error: a PostgreSQL server answers at $HOST:$PORT, but initdb and pg_ctl are not" >&2
      echo "installed: tests/durability/test_db_faults.py needs them for a cluster of its" >&2
      echo "own. Install them ('apt-get install postgresql') or set CONVOFLOW_TEST_PG_BINDIR." >&2
      exit 1
    fi
  fi
  echo "$URL"
  exit 0
fi

if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql/*/main >/dev/null 2>&1; then
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  echo "starting Debian PostgreSQL cluster $version/main" >&2
  pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
  for _ in $(seq 1 30); do
    if can_connect "$HOST" "$PORT"; then echo "$URL"; exit 0; fi
    sleep 1
  done
fi

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing PostgreSQL from Debian's packages" >&2
    install_postgresql
    exec "$0"
  fi
  echo "error: PostgreSQL is needed for the tests: none answers at $HOST:$PORT and it is not" >&2
  echo "installed. Install it (e.g. 'apt-get install postgresql') or set PGHOST/PGPORT." >&2
  exit 1
fi

# A private cluster owned by an unprivileged user (initdb refuses to run as root).
bin="$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")"
data="$(pwd)/.pgdata"
port=55432
owner="$(id -un)"
run_as() { if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = "0" ]; then owner=postgres; fi
if [ ! -f "$data/PG_VERSION" ]; then
  mkdir -p "$data"; chown "$owner" "$data"
  run_as "$bin/initdb" -D "$data" -U postgres --auth=trust >/dev/null
fi
if ! can_connect 127.0.0.1 "$port"; then
  run_as "$bin/pg_ctl" -D "$data" -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" \
    -l "$data/server.log" -w start >&2
fi
echo "postgresql://postgres@127.0.0.1:${port}/postgres"
