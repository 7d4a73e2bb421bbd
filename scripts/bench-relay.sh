#!/usr/bin/env bash
# The messaging relay end to end (post, deliver, answer, callback) with the embedded store and
# with PostgreSQL, each beside the store's raw durable insert rate measured in the same run.
#
#   scripts/bench-relay.sh                       # 2,000 commands, 8 client threads
#   RELAY_COMMANDS=10000 RELAY_THREADS=16 scripts/bench-relay.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh >/dev/null
cargo build --release --locked -q
GATEHOUSE_BIN="$PWD/target/release/gatehouse" cargo bench --locked -q -p gatehouse-relay --bench relay
