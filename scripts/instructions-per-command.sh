#!/usr/bin/env bash
# Instructions the gateway spends in user space per relay command (post, the device opening
# its box, the answer, the callback), each store: the relay benchmark
# (crates/relay/benches/relay.rs) runs with the gateway under `valgrind --tool=callgrind`,
# once with 300 commands and once with 1,300, and the difference of the two counts is divided
# by 1,000, so that start-up and the stop cancel out. A count, not a time: it does not move
# with the machine's load (commands/s in scripts/bench-relay.sh do). Under valgrind the run is
# about 40 times slower, so work on a timer (the worker's passes every 250 ms) weighs more
# here than at full speed.
#
#   scripts/instructions-per-command.sh                       # the release build here
#   scripts/instructions-per-command.sh /tmp/gh-a /tmp/gh-b   # builds side by side
#   KEEP=/tmp/cg scripts/instructions-per-command.sh          # keep the profiles (callgrind_annotate)
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib/packages.sh
command -v valgrind >/dev/null || install_packages valgrind
builds=("$@")
if ((${#builds[@]} == 0)); then
  cargo build --release --locked -q
  builds=("$PWD/target/release/gatehouse")
fi
work=${KEEP:-$(mktemp -d)}
mkdir -p "$work"
# The bench starts "$GATEHOUSE_BIN start <dir>" and kills it with SIGKILL when it is done;
# callgrind writes its counts only at a normal exit, so valgrind runs beside this wrapper and
# gets a SIGTERM (the gateway's graceful stop) once the wrapper is gone.
cat > "$work/wrap.sh" <<'EOF'
#!/usr/bin/env bash
store=$(basename "$2" | sed 's/^gatehouse-bench-relay-//; s/-[0-9]*$//')
valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$CG_OUT.$store" "$CG_BIN" "$@" &
vg=$!
me=$$
( while kill -0 "$me" 2>/dev/null; do sleep 0.1; done; kill -TERM "$vg" ) >/dev/null 2>&1 &
wait "$vg"
EOF
chmod +x "$work/wrap.sh"
totals() { awk '/^totals:/ {print $2}' "$1"; }
for bin in "${builds[@]}"; do
  tag=$(basename "$bin")
  for n in 300 1300; do
    CG_BIN=$bin CG_OUT="$work/$tag.$n" GATEHOUSE_BIN="$work/wrap.sh" RELAY_COMMANDS=$n RELAY_RAW=200 \
      cargo bench --locked -q -p gatehouse-relay --bench relay >/dev/null 2>&1
    # The last gateway may still be writing its counts.
    for _ in $(seq 1 300); do
      [ -s "$work/$tag.$n.postgresql" ] && [ -n "$(totals "$work/$tag.$n.postgresql")" ] && break
      sleep 0.1
    done
  done
  for store in sqlite postgresql; do
    small=$(totals "$work/$tag.300.$store"); large=$(totals "$work/$tag.1300.$store")
    # 296 and 1,296 commands ran (each client runs an equal share of them).
    printf '%s %-10s %8d instructions per command\n' "$bin" "$store" $(((large - small) / 1000))
  done
done
[ -n "${KEEP:-}" ] || rm -rf "$work"
