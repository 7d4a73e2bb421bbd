#!/usr/bin/env bash
# Scans a Gatehouse HTTPS connector with testssl.sh (installed from Debian when missing).
# The gateway runs the reference guide's PKCS#12 example: a keytool RSA keystore behind
# ServerTlsOptions with default protocols, suites and ALPN. Prints testssl's findings for
# protocols, ciphers, vulnerabilities and its rating; the full log is left in $OUT.
#
#   scripts/tls-scan.sh            # OUT=target/tls-scan
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-target/tls-scan}

need=()
command -v testssl >/dev/null 2>&1 || command -v testssl.sh >/dev/null 2>&1 || need+=(testssl.sh)
command -v keytool >/dev/null 2>&1 || need+=(default-jre-headless)
((${#need[@]} == 0)) || need+=(bsdextrautils)
. scripts/lib/packages.sh
install_packages "${need[@]}"
TESTSSL=$(command -v testssl || command -v testssl.sh)

cargo build --release --locked
rm -rf "$OUT" && mkdir -p "$OUT/instance/config" "$OUT/secrets"
secrets=$(cd "$OUT/secrets" && pwd)
keytool -genkey -alias https-connector-key -keyalg RSA -keystore "$secrets/IG-keystore" \
  -storepass password -keypass password -dname "CN=ig.example.com,O=Example Corp,C=FR" 2>/dev/null
echo -n 'password' > "$secrets/keystore.pass"
sed -e "s#/path/to/secrets#$secrets#g" -e 's/"port": 8080/"port": 0/' -e 's/"port": 8443/"port": 0/' \
  crates/gatehouse/tests/fixtures/guide/admin-https-keystore.json > "$OUT/instance/config/admin.json"

target/release/gatehouse start "$OUT/instance" > "$OUT/gateway.out" 2> "$OUT/gateway.log" &
gw=$!
trap 'kill $gw 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "started in" "$OUT/gateway.out" 2>/dev/null && break
  sleep 0.1
done
port=$(sed -n 's/.*ports : \[[0-9]* \([0-9]*\)\].*/\1/p' "$OUT/gateway.out")
[ -n "$port" ] || { cat "$OUT/gateway.log"; exit 1; }

"$TESTSSL" --quiet --color 0 --warnings off --protocols --std --server-defaults --vulnerable \
  --logfile "$OUT/testssl.log" "127.0.0.1:$port" > /dev/null || true
grep -E "^ (SSLv|TLS 1|NPN|ALPN)|Grade|Overall|Cipher categories|NULL|Anonymous|Export|LOW|Triple DES|Obsolete|Strong encryption|Forward Secrecy strong|not vulnerable|VULNERABLE|Heartbleed|ROBOT|POODLE|SWEET32|BEAST|LUCKY13|RC4|Renegotiation|CRIME|BREACH|FREAK|DROWN|LOGJAM|Secure Client" \
  "$OUT/testssl.log" | sed 's/  */ /g'
