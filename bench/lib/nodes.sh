# bench/lib/nodes.sh: Node binaries for the benchmark (sourced by run.sh, run-anchors.sh and soak.sh).
#
#   node_bin SPEC   prints the path of a Node binary; SPEC is
#                     system   the `node` on PATH
#                     26 (any major, or an exact version like 26.10.0)
#                              the official build from the npm package node-linux-<arch>@SPEC, installed once into
#                              $NODE_CACHE/node<SPEC> (default bench/run/node<SPEC>, gitignored) and reused
#                     /path/to/node   that binary
#                   With SKIP_INSTALL=1 nothing is installed: a missing version fails (status 1, message on stderr).
#   node_label PATH prints the label a binary is reported under: its major version ("20", "26").
#
# Needs npm and the npm registry the first time a version is used. Linux x64 and arm64 only.
NODE_CACHE="${NODE_CACHE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/run}"

node_bin() {
  local spec=$1 arch pkg dir bin
  case "$spec" in
    system|"") command -v node || { echo "nodes.sh: no node on PATH" >&2; return 1; } ;;
    /*|./*|../*) [ -x "$spec" ] && echo "$spec" || { echo "nodes.sh: $spec is not executable" >&2; return 1; } ;;
    [0-9]*)
      case "$(uname -m)" in x86_64) arch=x64 ;; aarch64|arm64) arch=arm64 ;; *) echo "nodes.sh: no npm Node build for $(uname -m)" >&2; return 1 ;; esac
      pkg="node-linux-$arch"; dir="$NODE_CACHE/node$spec"; bin="$dir/node_modules/$pkg/bin/node"
      if [ ! -x "$bin" ]; then
        if [ "${SKIP_INSTALL:-0}" = 1 ]; then
          echo "nodes.sh: Node $spec is not in $dir and SKIP_INSTALL=1 (run once without SKIP_INSTALL, or: npm install --prefix $dir $pkg@$spec)" >&2
          return 1
        fi
        mkdir -p "$dir"
        echo "[$(date +%H:%M:%S)] npm install --prefix $dir $pkg@$spec" >&2
        npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "$pkg@$spec" >&2 || { echo "nodes.sh: npm install $pkg@$spec failed" >&2; return 1; }
        [ -x "$bin" ] || { echo "nodes.sh: $bin missing after npm install" >&2; return 1; }
      fi
      echo "$bin" ;;
    *) echo "nodes.sh: unknown Node spec '$spec' (system, a version like 26, or a path)" >&2; return 1 ;;
  esac
}

node_label() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null; }
