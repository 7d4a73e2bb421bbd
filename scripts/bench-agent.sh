#!/usr/bin/env bash
# The agent's CMS file encryption beside OpenSSL's, in one run on the same file:
# `gatehouse agent encrypt`/`decrypt` against `openssl cms -encrypt`/`-decrypt` (AES-256-CBC,
# RSA-2048 key transport), and the raw AES-256-CBC rate of `openssl enc` as the physical limit.
#
#   scripts/bench-agent.sh            # a 512 MiB file
#   AGENT_MIB=2048 scripts/bench-agent.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh >/dev/null
cargo build --release --locked -q
G="$PWD/target/release/gatehouse"
MIB=${AGENT_MIB:-512}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$G" agent init "$W/a" >/dev/null
cd "$W/a"
PW=$(python3 -c "import json; print(json.load(open('appsettings.json'))['EncryptionCertificate']['Password'])")
openssl pkcs12 -in identitymanager-Files.pfx -passin "pass:$PW" -nodes -out key.pem 2>/dev/null
head -c $((MIB << 20)) /dev/urandom > data.bin
# Seconds a command takes, and its peak RSS in KiB (python3 only: no bc or time package needed).
run() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t0 = time.monotonic()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(f"{time.monotonic() - t0:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
}
rate() { python3 -c "print(round($MIB / ${1%% *}))"; }
sync
g_enc=$(run "$G" agent encrypt data.bin -o g.cms)
o_enc=$(run openssl cms -encrypt -aes256 -binary -outform DER -in data.bin -out o.cms key.pem)
g_dec=$(run "$G" agent decrypt o.cms -o g.out)
o_dec=$(run openssl cms -decrypt -binary -inform DER -in g.cms -inkey key.pem -out o.out)
raw=$(run openssl enc -aes-256-cbc -K "$(printf '%064d' 0)" -iv "$(printf '%032d' 0)" -in data.bin -out raw.bin)
cmp data.bin g.out && cmp data.bin o.out
printf '%-32s %6s MiB/s  peak RSS %7s KiB\n' \
  "gatehouse agent encrypt" "$(rate "$g_enc")" "${g_enc#* }" "openssl cms -encrypt" "$(rate "$o_enc")" "${o_enc#* }" \
  "gatehouse agent decrypt" "$(rate "$g_dec")" "${g_dec#* }" "openssl cms -decrypt" "$(rate "$o_dec")" "${o_dec#* }" \
  "openssl enc -aes-256-cbc (raw)" "$(rate "$raw")" "${raw#* }"
