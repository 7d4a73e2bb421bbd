#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests.
# Usage: scripts/test.sh   (from anywhere; installs missing test tools first)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-deps.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --all-targets --locked
