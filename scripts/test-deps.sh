#!/usr/bin/env bash
# Installs what the test suite talks to when it is missing: curl (a real HTTP client).
# Later suites add openssl, keytool and Python JOSE libraries here.
set -euo pipefail

need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v kill >/dev/null 2>&1 || need+=(procps)
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
