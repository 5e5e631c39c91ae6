#!/usr/bin/env bash
# Motcua vs node-oidc-provider on this machine: installs what is missing, builds, runs every
# scenario on both in alternation, writes bench/results/<timestamp>.{json,md} and latest.md.
# Usage: bench/run.sh            (BENCH_SECONDS, BENCH_CONNECTIONS, BENCH_VUS to change the load)
#        bench/run.sh scale      (store scale test instead; SCALE_SIZES=10000,1000000)
#        bench/run.sh profile [SCENARIO]   (perf profile; default the token endpoint, cc_rs256)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=bench/.work
OIDC_PROVIDER=oidc-provider@9.13   # OpenID Certified; pinned major.minor
NODE_ARGON2=argon2@0.45            # the peer's Argon2id (prebuilt libargon2 binding)

if ! command -v wrk >/dev/null; then
  echo "installing wrk" >&2
  (apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; })
fi
command -v openssl >/dev/null || apt-get install -y openssl >/dev/null
if [ ! -d "$WORK/node_modules/oidc-provider" ] || [ ! -d "$WORK/node_modules/argon2" ]; then
  echo "installing $OIDC_PROVIDER $NODE_ARGON2 into $WORK" >&2
  mkdir -p "$WORK"
  npm install --prefix "$WORK" --no-audit --no-fund --loglevel=error "$OIDC_PROVIDER" "$NODE_ARGON2" >&2
fi
echo "building Motcua (release)" >&2
cargo build --release -q -p idp -p admin-cli
# Argon2id reference with Motcua's own crate (a tiny crate outside the workspace).
cargo build --release -q --manifest-path bench/argon2-speed/Cargo.toml --target-dir "$WORK/target"

case "${1:-}" in
  scale) exec node bench/scale.mjs ;;
  profile)
    command -v perf >/dev/null || apt-get install -y linux-perf >/dev/null
    exec node bench/profile.mjs "${2:-cc_rs256}" ;;
  *) exec node bench/bench.mjs ;;
esac
