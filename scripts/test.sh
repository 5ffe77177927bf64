#!/usr/bin/env bash
# Installs everything the tests need (the pinned Python packages of requirements.txt, Chromium for the
# browser tests, poppler for PDF checks, PostgreSQL 15, nginx, Node.js with the pinned npm packages of
# the test OpenID provider), starts a throwaway PostgreSQL server, and runs
# the whole suite: lint, unit, app, end-to-end, browser and notebook tests, the database tests on both
# SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -e ".[test]"

# System tools from Debian packages (no browser download: Playwright drives Debian's chromium).
PG_BIN=/usr/lib/postgresql/15/bin
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
# nginx and openssl: the deployment test runs docs/deployment.md's proxy example.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ -n "${HOTH_GEO_TEST_PG_URL:-}" ] || [ -x "$PG_BIN/postgres" ] || need+=(postgresql-15)
# Node.js and npm: the single sign-on tests run a real OpenID Connect provider (tests/oidc).
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The OpenID Connect provider of the single sign-on browser tests: exactly the versions in
# tests/oidc/package-lock.json (from npm's cache when it has them, so a second run needs no network).
npm ci --prefix tests/oidc --prefer-offline --no-audit --no-fund --loglevel=error

# A throwaway PostgreSQL 15 server for the tests: its own cluster in a temporary folder, reachable only
# through a Unix socket there, run as an unprivileged user (PostgreSQL refuses to run as root), stopped
# and removed on exit. Set HOTH_GEO_TEST_PG_URL beforehand to use a server of your own instead.
if [ -z "${HOTH_GEO_TEST_PG_URL:-}" ]; then
  PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/hoth-geo-pg.XXXXXX")"
  as_pg_user() { "$@"; }
  if [ "$(id -u)" -eq 0 ]; then
    chown nobody "$PG_DIR"
    as_pg_user() { runuser -u nobody -- "$@"; }
  fi
  stop_postgres() {
    as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  }
  trap stop_postgres EXIT
  as_pg_user "$PG_BIN/initdb" -D "$PG_DIR/data" -U hothgeo -A trust -E UTF8 --no-locale --no-sync >/dev/null
  # fsync off: a test server's data is thrown away, so crash safety buys nothing here.
  as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -s \
    -o "-c listen_addresses='' -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start
  export HOTH_GEO_TEST_PG_URL="postgresql+psycopg://hothgeo@/postgres?host=$PG_DIR"
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
