#!/usr/bin/env bash
# Store scale test: seeds accounts through `idp-admin user import` (default 10,000 then
# 1,000,000) and measures login and token latency at each size. See bench/README.md.
exec "$(dirname "$0")/run.sh" scale
