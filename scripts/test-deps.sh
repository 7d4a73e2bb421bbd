#!/usr/bin/env bash
# Installs what the test suite talks to when it is missing:
# curl (a real HTTP and HTTPS client), openssl (s_client and the guide's key commands),
# keytool (the guide's keystores), and Python's websockets package (an independent
# WebSocket client and server), jwcrypto and PyJWT (independent JOSE libraries for the
# JwtSession and JWS interop tests), authlib and requests (an independent OAuth 2.0 client
# for the token service tests).
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
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

# module:package pairs (the import name and the name on PyPI differ for PyJWT).
for pair in websockets:websockets jwcrypto:jwcrypto jwt:PyJWT authlib:authlib requests:requests; do
  module=${pair%%:*} package=${pair#*:}
  if ! python3 -c "import $module" >/dev/null 2>&1; then
    echo "installing: python $package"
    python3 -m pip install --quiet --disable-pip-version-check "$package" \
      || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$package"
  fi
done
