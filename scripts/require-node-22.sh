#!/usr/bin/env bash
# require-node-22.sh WHAT: exits 1 with one line when node is older than 22.12. npm only warns on
# `engines`, and on an older node the product fails confusingly (no zstd in node:zlib, no TypeScript in
# workers).
if ! node -e 'const [major, minor] = process.versions.node.split(".").map(Number); process.exit(major > 22 || (major === 22 && minor >= 12) ? 0 : 1)'; then
  echo "$1: sdr needs Node.js >= 22.12 and this is $(node --version); run '. scripts/use-node-22.sh' first (it fetches Node 22 from the npm registry)" >&2
  exit 1
fi
