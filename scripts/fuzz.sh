#!/usr/bin/env bash
# Long, coverage-guided fuzz runs of every parser of untrusted or configured input, under
# libFuzzer through cargo-fuzz, on the stable toolchain (RUSTC_BOOTSTRAP=1 lets it use the
# sanitizer flags cargo-fuzz needs). The test suite runs a short smoke run of the same targets
# (crates/fuzz/tests/smoke.rs); this is for hours.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   default: 60 seconds for each of config_json expression session_cookie jws_token
#   cookie_header authorization_header cms_file http1_request http1_response. Crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(config_json expression session_cookie jws_token cookie_header authorization_header cms_file http1_request http1_response)
fi

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1

for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  cp -n fuzz/seeds/"$target"/* "$corpus"/ 2>/dev/null || true
  echo "== $target: ${seconds}s"
  # -s none: no sanitizer (the code has no unsafe; the crypto library is C and is not the
  # target); libFuzzer still finds panics, aborts, stack overflows, timeouts and leaks of time.
  cargo fuzz run -s none --fuzz-dir fuzz "$target" "$corpus" -- \
    -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
    | grep -E "^(#[0-9]+.*DONE|Done|stat::|==|INFO: seed corpus)|panicked|ERROR|SUMMARY" || true
  if compgen -G "fuzz/artifacts/$target/*" >/dev/null; then
    echo "!! $target: crashes in fuzz/artifacts/$target/"
    exit 1
  fi
done
