#!/usr/bin/env bash
# Builds the release binary and runs the gateway on its embedded defaults:
# the instance $HOME/.gatehouse (created with a welcome route) on port 8080.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
exec target/release/gatehouse start "$@"
