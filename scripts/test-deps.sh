#!/usr/bin/env bash
# Installs what the test suite talks to when it is missing:
# curl (a real HTTP and HTTPS client), openssl (s_client and the guide's key commands),
# keytool (the guide's keystores), and Python's websockets package (an independent
# WebSocket client and server), jwcrypto and PyJWT (independent JOSE libraries for the
# JwtSession and JWS interop tests; cryptography for PyJWT's RSA keys), authlib and requests
# (an independent OAuth 2.0 client for the token service tests), systemd-analyze (verifies the
# packaged systemd unit), and Debian's Chromium (the operations console's test loads the page
# in it, headless).
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v kill >/dev/null 2>&1 || need+=(procps)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v keytool >/dev/null 2>&1 || need+=(default-jre-headless)
[ -e /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)
. "$(dirname "$0")/lib/packages.sh"
install_packages "${need[@]}"

# module:package pairs (the import name and the name on PyPI differ for PyJWT).
for pair in websockets:websockets jwcrypto:jwcrypto jwt:PyJWT cryptography:cryptography authlib:authlib requests:requests; do
  module=${pair%%:*} package=${pair#*:}
  if ! python3 -c "import $module" >/dev/null 2>&1; then
    echo "installing: python $package"
    python3 -m pip install --quiet --disable-pip-version-check "$package" \
      || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$package"
  fi
done

# PostgreSQL on 127.0.0.1:5432 for the relay's shared store (this kind of machine runs one;
# a machine without it gets Debian's, started here). Tests connect as postgres/postgres.
if ! command -v pg_isready >/dev/null 2>&1 || ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    install_packages postgresql
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || $SUDO pg_ctlcluster "$version" main start
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  $SUDO -u postgres psql -q -c "ALTER USER postgres PASSWORD 'postgres'" >/dev/null 2>&1 \
    || su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null 2>&1 || true
fi
pg_isready -h 127.0.0.1 -p 5432
