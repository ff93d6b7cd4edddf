#!/usr/bin/env bash
# benches/bgp-ingest.sh - BGP route ingest: how long a receiver takes to
# hold every prefix an injector announces, and its peak memory, for rvpnd,
# FRR (bgpd), BIRD 2 and GoBGP in the same run.
#
#   injector ns 10.0.50.101.. <--veth--> 10.0.50.1 receiver ns
#
# The injector is examples/bgp_inject.rs (rvpn's bgp::wire, ~1M prefixes
# packed and written in well under a second), so the figure is the
# receiver's: it connects K sessions from 10.0.50.101, .102, ... (AS 65100,
# router ids likewise) to the receiver (AS 65200, passive where it can be),
# each announcing its own N distinct IPv4 /24s from 32.0.0.0 (ORIGIN IGP,
# AS_PATH 65100, NEXT_HOP the session's address), then End-of-RIB, and keeps
# the sessions up. With several sessions the injector announces only once
# all are established (--sync): receivers take a burst of connections at
# different speeds (BIRD and FRR sometimes accept one of ten a second
# late), which is not what is measured. Scenarios (SCENARIOS, KxN):
# 1x1000000 (one session, 1M prefixes) and 10x100000 (10 sessions x 100k,
# 1M distinct prefixes).
#
# Receivers import everything and export nothing:
#   rvpn   rvpnd --no-kernel-routes (installs nothing, as FRR's -n; the
#          FIB's own figures are benches/fib-install.sh's):
#          `neighbor X route-map ALL in` (permit all) and no out
#          policy, so RFC 8212 keeps it from sending; polled with
#          `vtysh -c 'show ip bgp summary json'` until the sum of pfxRcd and
#          ribCount both reach the total.
#   frr    FRR bgpd -n (installs nothing; zebra runs for next hop
#          tracking only: bgpd -Z without zebra logs an error per prefix),
#          `no bgp ebgp-requires-policy`, `route-map DENY out` (deny all);
#          `show bgp summary json` sum of pfxRcd.
#   bird   BIRD 2, `import all; export none;`, no kernel protocol; `birdc
#          show protocols all` sum of "Routes: N imported".
#   gobgp  gobgpd, global default export policy reject; `gobgp -j
#          neighbor` sum of accepted.
#
# T = seconds from the injector's first UPDATE until the receiver reports
# all prefixes (polled every 50 ms; then the first and the last prefix
# must be in its table, or the run fails); peak RSS = the receiver's VmHWM
# (/proc/PID/status; FRR: bgpd, zebra's is printed per run). Every receiver and run gets fresh
# namespaces and daemons. The table gives medians of RUNS runs and the
# ratio of each median T to BIRD's in the same scenario. A run that fails
# (the receiver does not start, never establishes, stalls 60 s, runs past
# TIMEOUT) prints why and the script goes on; a receiver whose runs all
# failed gets FAIL in its row, one with some failed runs the median of the
# others and a note. The exit status is non-zero if any run failed.
#
# SENDERS: who announces to the receiver. `inject` (the default, all of
# the above) is the injector itself. `gobgp`, `bird` and `frr` are real
# senders: a router in its own namespace first learns the table, its
# session to the receiver shut, then the session is enabled and T runs
# from the moment the receiver's TCP session to it is established
# (polled every 10 ms) until the receiver holds the sender's table.
#   injector ns 10.0.51.3 (AS 65300) -> sender ns 10.0.51.2 / 10.0.50.101
#   (AS 65100) -> receiver ns 10.0.50.1 (AS 65200)
#   gobgp  gobgpd loaded with `gobgp mrt inject global` from an MRT
#          TABLE_DUMP_V2 file of the same prefixes (made by python3;
#          GoBGP 3.10 may take in a few fewer: the target is what it holds)
#   bird   BIRD 2 fed by the injector, `export all` to the receiver
#   frr    FRR bgpd -n (zebra for next hop tracking) fed by the injector
# These announce in their own table order (hash order: BIRD and GoBGP
# scatter consecutive UPDATEs over the address space), where the
# injector announces in address order; the BIRD sender sends its last
# partial batch (under 256 prefixes) up to 3 s late, to every receiver
# alike. Only one-session scenarios (1xN) run with a real sender; each
# run loads the sender once and then serves every receiver in turn.
#
# FIB=1 measures to the kernel instead: each receiver also installs every
# route into its namespace's kernel table (rvpnd without
# --no-kernel-routes, FRR bgpd without -n through zebra, BIRD with
# `protocol kernel { export all; }`; GoBGP has no kernel install and is
# left out), and T ends when the kernel holds them all (the last prefix
# is seen with `ip route show exact`, then `ip route show proto P | wc -l`
# must reach the total).
#
# Usage: benches/bgp-ingest.sh [--smoke] [--runs N]
#   env: RECEIVERS="rvpn frr bird gobgp" SCENARIOS="1x1000000 10x100000"
#        SENDERS="inject" (or any of "inject gobgp bird frr")
#        RUNS=3 PROFILE=release (--smoke: dev) TIMEOUT=600 (s per run)
#        RVPN_LOG=warn (rvpnd's RUST_LOG) NO_BUILD=1 (use what is built)
#        KEEP=1 (keep the work dir)
#   --smoke: SCENARIOS="1x20000 2x5000", RUNS=1, dev build, all four
#        receivers (what CI runs: proves the script and every receiver
#        work); SENDERS as given (default inject).
# The build honours CARGO_TARGET_DIR (default target/).
# Needs (as root): iproute2, util-linux (unshare), frr, bird2, gobgpd,
# cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SMOKE=0
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1 ;;
    --runs) RUNS=${2:?--runs needs a number}; shift ;;
    --runs=*) RUNS=${1#--runs=} ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$SMOKE" = 1 ]; then
  SCENARIOS=${SCENARIOS:-"1x20000 2x5000"}; RUNS=${RUNS:-1}; PROFILE=${PROFILE:-dev}
  TIMEOUT=${TIMEOUT:-120}
fi
RECEIVERS=${RECEIVERS:-"rvpn frr bird gobgp"}
SENDERS=${SENDERS:-inject}
SCENARIOS=${SCENARIOS:-"1x1000000 10x100000"}
RUNS=${RUNS:-3}; PROFILE=${PROFILE:-release}; TIMEOUT=${TIMEOUT:-600}; STALL=${STALL:-60}
RVPN_LOG=${RVPN_LOG:-warn}
FIB=${FIB:-0}
if [ "$FIB" = 1 ]; then
  RECEIVERS=$(echo " $RECEIVERS " | sed 's/ gobgp / /g; s/^ *//; s/ *$//')
  RVPN_FIB_ARGS=(); FRR_FIB_ARG=""
else
  RVPN_FIB_ARGS=(--no-kernel-routes); FRR_FIB_ARG="-n"
fi
BGPD=/usr/lib/frr/bgpd; ZEBRA=/usr/lib/frr/zebra; VTYSH_FRR=/usr/bin/vtysh; BIRD=/usr/sbin/bird; BIRDC=/usr/sbin/birdc
GOBGPD=/usr/bin/gobgpd; GOBGP=/usr/bin/gobgp
NR=bgi$$r; NI=bgi$$i; NJ=bgi$$j     # namespaces: receiver, injector (or sender), injector of a sender
RADDR=10.0.50.1; SRC0=101            # receiver; injector sources 10.0.50.101...
W=$(mktemp -d /tmp/bgp-ingest.XXXXXX)
chmod 755 "$W"                       # FRR's daemons run as user frr

[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
case $RUNS in ''|*[!0-9]*|0) echo "RUNS must be a positive number" >&2; exit 2 ;; esac
for s in $SCENARIOS; do
  case $s in [1-9]*x[1-9]*) ;; *) echo "bad scenario $s (want KxN)" >&2; exit 2 ;; esac
  k=${s%x*}; [ "$k" -le 150 ] || { echo "$s: at most 150 sessions" >&2; exit 2; }
done
for r in $RECEIVERS; do
  case $r in
    rvpn) ;;
    frr) for t in "$BGPD" "$ZEBRA" "$VTYSH_FRR"; do [ -x "$t" ] || { echo "missing $t (package frr)" >&2; exit 1; }; done ;;
    bird) for t in "$BIRD" "$BIRDC"; do [ -x "$t" ] || { echo "missing $t (package bird2)" >&2; exit 1; }; done ;;
    gobgp) for t in "$GOBGPD" "$GOBGP"; do [ -x "$t" ] || { echo "missing $t (package gobgpd)" >&2; exit 1; }; done ;;
    *) echo "unknown receiver $r (rvpn frr bird gobgp)" >&2; exit 2 ;;
  esac
done
for x in $SENDERS; do
  case $x in
    inject) ;;
    gobgp) for t in "$GOBGPD" "$GOBGP"; do [ -x "$t" ] || { echo "missing $t (package gobgpd)" >&2; exit 1; }; done
           command -v python3 >/dev/null || { echo "missing: python3 (the MRT file)" >&2; exit 1; } ;;
    bird) for t in "$BIRD" "$BIRDC"; do [ -x "$t" ] || { echo "missing $t (package bird2)" >&2; exit 1; }; done ;;
    frr) for t in "$BGPD" "$ZEBRA" "$VTYSH_FRR"; do [ -x "$t" ] || { echo "missing $t (package frr)" >&2; exit 1; }; done ;;
    *) echo "unknown sender $x (inject gobgp bird frr)" >&2; exit 2 ;;
  esac
done
[ "$FIB" = 1 ] && [ "$SENDERS" != inject ] && { echo "FIB=1 runs with SENDERS=inject only" >&2; exit 2; }
for t in ip unshare cargo; do command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 1; }; done

PIDS=()
del_ns() {
  local n p
  local which=${1:-"$NR $NI $NJ"}
  for n in $which; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      p=$(ip netns pids "$n" 2>/dev/null) || break
      [ -z "$p" ] && break
      # shellcheck disable=SC2086 # a list of pids
      kill -9 $p 2>/dev/null || true
      sleep 0.1
    done
    ip netns del "$n" 2>/dev/null || true
  done
}
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  del_ns
  if [ "${KEEP:-0}" = 1 ]; then echo "work dir kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build
if [ "$PROFILE" = dev ]; then BDIR=debug; PFLAG=(); else BDIR=$PROFILE; PFLAG=(--profile "$PROFILE"); fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET
RVPN_BUILD_OK=1
if [ "${NO_BUILD:-0}" != 1 ]; then
  echo "=== building the injector ($PROFILE) into $TARGET"
  cargo build -q "${PFLAG[@]}" -p rvpnd --example bgp_inject
  case " $RECEIVERS " in *" rvpn "*)
    echo "=== building rvpnd and vtysh ($PROFILE)"
    cargo build -q "${PFLAG[@]}" -p rvpnd --bin rvpnd -p vtysh --bin vtysh \
      || { RVPN_BUILD_OK=0; echo "!!! rvpnd does not build: its rows will say FAIL"; } ;;
  esac
fi
INJECT=$TARGET/$BDIR/examples/bgp_inject; RVPND=$TARGET/$BDIR/rvpnd; VTYSH=$TARGET/$BDIR/vtysh
[ -x "$INJECT" ] || { echo "missing $INJECT" >&2; exit 1; }
for b in "$RVPND" "$VTYSH"; do [ -x "$b" ] || RVPN_BUILD_OK=0; done

# ---- helpers
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
hwm_kb() { awk '/^VmHWM:/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }
wait_for() { # TENTHS CMD...: poll every 0.1 s
  local n=$1; shift
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
sum_key() { # KEY: sum of every "KEY":NUMBER in the JSON on stdin
  grep -o "\"$1\": *[0-9]*" | awk -F: '{ s += $2 } END { print s + 0 }'
}
stop_pids() { # PID...: SIGKILL and reap (quietly: no "Killed" job notices)
  local p
  for p in "$@"; do
    [ -n "$p" ] || continue
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}
json_has_paths() { # JSON: whether it has a non-empty "paths" array (no pipes: pipefail)
  local o=${1//[[:space:]]/}
  [[ $o == *'"paths":[{'* ]]
}
src_addr() { echo "10.0.50.$((SRC0 + $1))"; }

make_ns() { # K: fresh namespaces, the receiver's address and K injector sources
  del_ns
  local n i
  for n in "$NR" "$NI"; do
    ip netns add "$n"; ip -n "$n" link set lo up
  done
  ip link add bgi-r netns "$NR" type veth peer name bgi-i netns "$NI"
  ip -n "$NR" addr add "$RADDR/24" dev bgi-r
  for i in $(seq 0 $(($1 - 1))); do ip -n "$NI" addr add "$(src_addr "$i")/24" dev bgi-i; done
  ip -n "$NR" link set bgi-r up; ip -n "$NI" link set bgi-i up
}

# Start receiver R in $NR for K sessions, files in DIR; sets RPID (the
# process whose VmHWM counts) and defines count_r (prefixes held so far).
start_rvpn() { # DIR K
  local d=$1 k=$2 i a
  [ "$RVPN_BUILD_OK" = 1 ] || { echo "rvpnd is not built" > "$d/why"; return 1; }
  {
    echo "route-map ALL permit 10"
    echo "!"
    echo "router bgp 65200"
    echo " bgp router-id $RADDR"
    for i in $(seq 0 $((k - 1))); do echo " neighbor $(src_addr "$i") remote-as 65100"; done
    echo " address-family ipv4 unicast"
    for i in $(seq 0 $((k - 1))); do echo "  neighbor $(src_addr "$i") route-map ALL in"; done
    echo " exit-address-family"
    echo "!"
  } > "$d/rvpnd.conf"
  ip netns exec "$NR" env RUST_LOG="$RVPN_LOG" "$RVPND" -f "$d/rvpnd.conf" --socket "$d/rvpnd.sock" \
    "${RVPN_FIB_ARGS[@]}" > "$d/rvpnd.log" 2>&1 &
  RPID=$!; PIDS+=("$RPID")
  wait_for 100 test -S "$d/rvpnd.sock" || { echo "rvpnd did not start" > "$d/why"; return 1; }
  RDIR=$d
  count_r() {
    local j pfx rib
    j=$("$VTYSH" --socket "$RDIR/rvpnd.sock" -c 'show ip bgp summary json' 2>/dev/null) || { echo 0; return; }
    pfx=$(sum_key pfxRcd <<< "$j"); rib=$(sum_key ribCount <<< "$j")
    echo $(( pfx < rib ? pfx : rib ))
  }
  has_r() {
    local o; o=$("$VTYSH" --socket "$RDIR/rvpnd.sock" -c "show ip bgp $1 json" 2>/dev/null) || return 1
    json_has_paths "$o"
  }
}

start_frr() { # DIR K
  local d=$1 k=$2 i a
  {
    echo "debug bgp neighbor-events"
    echo "route-map DENY deny 10"
    echo "!"
    echo "router bgp 65200"
    echo " bgp router-id $RADDR"
    echo " no bgp ebgp-requires-policy"
    for i in $(seq 0 $((k - 1))); do
      a=$(src_addr "$i")
      echo " neighbor $a remote-as 65100"
      echo " neighbor $a passive"
    done
    echo " address-family ipv4 unicast"
    for i in $(seq 0 $((k - 1))); do echo "  neighbor $(src_addr "$i") route-map DENY out"; done
    echo " exit-address-family"
  } > "$d/bgpd.conf"
  echo "hostname bench" > "$d/zebra.conf"
  : > "$d/vtysh.conf"
  chown -R frr:frr "$d"
  # As tests/support/bgp_peers/: user frr, a private tmpfs on /var/tmp
  # (FRR leaves crash-log buffers there), no TCP vty. zebra runs for next
  # hop tracking only: bgpd -n installs nothing (bgpd -Z, without zebra,
  # logs a failed next hop registration per prefix and dropped a session
  # in the 10-session scenario).
  ip netns exec "$NR" unshare -m --propagation private sh -c \
    "mount -t tmpfs tmpfs /var/tmp && exec $ZEBRA -u frr -g frr -f $d/zebra.conf -i $d/zebra.pid \
     -z $d/zserv.api --vty_socket $d -P 0 --log file:$d/zebra.log" > "$d/zebra.out" 2>&1 &
  ZPID=$!; PIDS+=("$ZPID")
  wait_for 100 test -S "$d/zserv.api" || { echo "zebra did not start" > "$d/why"; return 1; }
  ip netns exec "$NR" unshare -m --propagation private sh -c \
    "mount -t tmpfs tmpfs /var/tmp && exec $BGPD -u frr -g frr $FRR_FIB_ARG -f $d/bgpd.conf -i $d/bgpd.pid \
     -z $d/zserv.api --vty_socket $d -P 0 --log file:$d/bgpd.log" > "$d/bgpd.out" 2>&1 &
  RPID=$!; PIDS+=("$RPID")
  wait_for 100 test -S "$d/bgpd.vty" || { echo "bgpd did not start" > "$d/why"; return 1; }
  RDIR=$d
  count_r() {
    "$VTYSH_FRR" --vty_socket "$RDIR" --config_dir "$RDIR" -c 'show bgp summary json' 2>/dev/null \
      | sum_key pfxRcd
  }
  has_r() {
    local o; o=$("$VTYSH_FRR" --vty_socket "$RDIR" --config_dir "$RDIR" -c "show bgp ipv4 unicast $1 json" 2>/dev/null) || return 1
    json_has_paths "$o"
  }
}

start_bird() { # DIR K
  local d=$1 k=$2 i
  {
    echo "router id $RADDR;"
    echo "log \"$d/bird.log\" { warning, error, fatal };"
    echo "protocol device { }"
    [ "$FIB" = 1 ] && echo "protocol kernel { ipv4 { export all; }; }"
    echo "template bgp inj { local $RADDR as 65200; passive on; ipv4 { import all; export none; }; }"
    for i in $(seq 0 $((k - 1))); do echo "protocol bgp inj$i from inj { neighbor $(src_addr "$i") as 65100; }"; done
  } > "$d/bird.conf"
  ip netns exec "$NR" "$BIRD" -f -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid" > "$d/bird.out" 2>&1 &
  RPID=$!; PIDS+=("$RPID")
  wait_for 100 test -S "$d/bird.ctl" || { echo "bird did not start" > "$d/why"; return 1; }
  RDIR=$d
  count_r() {
    "$BIRDC" -s "$RDIR/bird.ctl" show protocols all 2>/dev/null \
      | awk '$1 == "Routes:" { s += $2 } END { print s + 0 }'
  }
  has_r() {
    local o; o=$("$BIRDC" -s "$RDIR/bird.ctl" show route "$1" 2>/dev/null) || return 1
    [[ $'\n'$o == *$'\n'"$1 "* ]]
  }
}

start_gobgp() { # DIR K
  local d=$1 k=$2 i
  {
    echo '[global.config]'
    echo '  as = 65200'
    echo "  router-id = \"$RADDR\""
    echo "  local-address-list = [\"$RADDR\"]"
    echo '[global.apply-policy.config]'
    echo '  default-export-policy = "reject-route"'
    for i in $(seq 0 $((k - 1))); do
      echo '[[neighbors]]'
      echo '  [neighbors.config]'
      echo "    neighbor-address = \"$(src_addr "$i")\""
      echo '    peer-as = 65100'
      echo '  [neighbors.transport.config]'
      echo '    passive-mode = true'
      echo '  [[neighbors.afi-safis]]'
      echo '    [neighbors.afi-safis.config]'
      echo '      afi-safi-name = "ipv4-unicast"'
    done
  } > "$d/gobgpd.toml"
  ip netns exec "$NR" "$GOBGPD" -f "$d/gobgpd.toml" -t toml -p -l warn \
    --api-hosts 127.0.0.1:50051 --pprof-disable > "$d/gobgpd.log" 2>&1 &
  RPID=$!; PIDS+=("$RPID")
  wait_for 100 ip netns exec "$NR" "$GOBGP" -u 127.0.0.1 -p 50051 global \
    || { echo "gobgpd did not start" > "$d/why"; return 1; }
  count_r() {
    ip netns exec "$NR" "$GOBGP" -u 127.0.0.1 -p 50051 -j neighbor 2>/dev/null | sum_key accepted
  }
  has_r() {
    local o; o=$(ip netns exec "$NR" "$GOBGP" -u 127.0.0.1 -p 50051 -j global rib -a ipv4 "$1" 2>/dev/null) || return 1
    [[ $o == *"\"$1\""* ]]
  }
}

logs_of() { # DIR
  local f
  for f in "$1"/why "$1"/inject.out "$1"/rvpnd.log "$1"/bgpd.log "$1"/bgpd.out "$1"/bird.out \
           "$1"/bird.log "$1"/gobgpd.log; do
    [ -s "$f" ] && { echo "    --- $f"; tail -12 "$f" | sed 's/^/    /'; }
  done
  return 0
}

RES=$W/results.txt; : > "$RES"
FAILED=0
run_one() { # RECEIVER SCENARIO RUN
  local r=$1 s=$2 run=$3 k n total d ipid t0 tdone c last tlast hwm
  k=${s%x*}; n=${s#*x}; total=$((k * n))
  d="$W/$r-$s-$run"; mkdir -p "$d"
  make_ns "$k"
  RPID=""; ZPID=""
  fail() {
    printf '  %-6s %-11s run %d: FAIL (%s)\n' "$r" "$s" "$run" "$1"; logs_of "$d"; FAILED=1
    echo "$r $s $run FAIL 0" >> "$RES"
    stop_pids "$RPID" "${ipid:-}" "$ZPID"
    del_ns
    return 0
  }
  "start_$r" "$d" "$k" || { fail "$(cat "$d/why" 2>/dev/null || echo "did not start")"; return 0; }
  if [ "$FIB" = 1 ]; then
    # Count what the kernel holds, once the last prefix is there (a full
    # count of a million routes takes a second itself).
    local proto; case $r in rvpn) proto=202 ;; frr) proto=bgp ;; bird) proto=bird ;; esac
    local lastk=$((total - 1))
    FIB_LAST="$((32 + (lastk >> 16))).$(((lastk >> 8) & 255)).$((lastk & 255)).0/24"; FIB_PROTO=$proto
    count_r() {
      local o; o=$(ip -n "$NR" route show exact "$FIB_LAST" proto "$FIB_PROTO" 2>/dev/null) || { echo 0; return; }
      [ -n "$o" ] || { echo 0; return; }
      ip -n "$NR" -4 route show proto "$FIB_PROTO" 2>/dev/null | wc -l
    }
  fi
  ip netns exec "$NI" "$INJECT" --peer "$RADDR" --local-as 65100 --peer-as 65200 \
    --router-id "$(src_addr 0)" --source "$(src_addr 0)" --sessions "$k" --count "$n" \
    --base 32.0.0.0 --prefix-len 24 --hold 180 --connect-timeout 30 --sync > "$d/inject.out" 2>&1 &
  ipid=$!; PIDS+=("$ipid")
  # Poll every 50 ms until the receiver holds them all.
  last=-1; tlast=$(now_ms); tdone=""
  local tstart; tstart=$(now_ms)
  while :; do
    # A busy receiver's CLI may fail or time out: that counts as no news.
    c=$(count_r 2>/dev/null) || c=0
    case $c in ''|*[!0-9]*) c=0 ;; esac
    if [ "$c" -ge "$total" ]; then tdone=$(now_ms); break; fi
    if [ "$c" != "$last" ]; then last=$c; tlast=$(now_ms); fi
    if ! kill -0 "$RPID" 2>/dev/null; then fail "receiver exited at $c of $total prefixes"; return 0; fi
    if ! kill -0 "$ipid" 2>/dev/null; then fail "injector exited at $c of $total prefixes"; return 0; fi
    if [ $(( $(now_ms) - tlast )) -gt $((STALL * 1000)) ]; then fail "stalled at $c of $total prefixes"; return 0; fi
    if [ $(( $(now_ms) - tstart )) -gt $((TIMEOUT * 1000)) ]; then fail "timeout at $c of $total prefixes"; return 0; fi
    sleep 0.05
  done
  hwm=$(hwm_kb "$RPID")
  # The counters agree with the table: the first and the last prefix are in.
  local i=$((total - 1)) first="32.0.0.0/24" lastp
  lastp="$((32 + (i >> 16))).$(((i >> 8) & 255)).$((i & 255)).0/24"
  has_r "$first" && has_r "$lastp" || { fail "counted $c, but $first or $lastp is not in the table"; return 0; }
  local extra=""
  [ -n "$ZPID" ] && extra="; zebra peak RSS $(awk -v k="$(hwm_kb "$ZPID")" 'BEGIN { printf "%.1f", k / 1024 }') MB"
  # The injector's first UPDATE (wall clock), from its per-session lines.
  t0=$(awk -F'[:,}]' '/"first_update_at_ms"/ {
         for (i = 1; i <= NF; i++) { if ($i ~ /"first_update_at_ms"/) f = $(i+1); if ($i ~ /"start_unix_ms"/) u = $(i+1) }
         t = u + f; if (min == "" || t < min) min = t }
       END { printf "%.0f", min }' "$d/inject.out")
  local up; up=$(awk -F'[:,}]' '/"established_at_ms"/ && !/"all"/ {
         for (i = 1; i <= NF; i++) if ($i ~ /"established_at_ms"/) { e = $(i+1) + 0; if (e > max) max = e }
       } END { printf "%.0f", max }' "$d/inject.out")
  local sent; sent=$(awk -F'[:,}]' '/"all":true/ { for (i = 1; i <= NF; i++) if ($i ~ /"sent_all_at_ms"/) print $(i+1) }' "$d/inject.out")
  [ -n "$t0" ] && [ "$t0" != 0 ] || { fail "no timing line from the injector"; return 0; }
  local secs; secs=$(awk -v a="$t0" -v b="$tdone" 'BEGIN { printf "%.3f", (b - a) / 1000 }')
  printf '  %-6s %-11s run %d: %8.3f s  peak RSS %7.1f MB  (%d prefixes; sessions up %s ms, all written %s ms after start%s)\n' \
    "$r" "$s" "$run" "$secs" "$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')" "$total" "${up:-?}" "${sent:-?}" "$extra"
  echo "$r $s $run $secs $hwm" >> "$RES"
  stop_pids "$RPID" "$ipid" "$ZPID"
  del_ns
}

# ---- real senders (SENDERS other than inject)
SPID=""; SIPID=""; SZPID=""
SADDR=$(src_addr 0); JADDR=10.0.51.3; SJADDR=10.0.51.2   # sender to receiver; injector; sender to injector

make_sender_ns() { # the sender's and its injector's namespaces (no receiver yet)
  del_ns
  local n
  for n in "$NI" "$NJ"; do ip netns add "$n"; ip -n "$n" link set lo up; done
  ip link add bgi-j netns "$NJ" type veth peer name bgi-s netns "$NI"
  ip -n "$NJ" addr add "$JADDR/24" dev bgi-j; ip -n "$NI" addr add "$SJADDR/24" dev bgi-s
  ip -n "$NJ" link set bgi-j up; ip -n "$NI" link set bgi-s up
}
make_recv_ns() { # a fresh receiver namespace linked to the sender's
  del_ns "$NR"
  ip netns add "$NR"; ip -n "$NR" link set lo up
  ip link add bgi-r netns "$NR" type veth peer name bgi-i netns "$NI"
  ip -n "$NR" addr add "$RADDR/24" dev bgi-r; ip -n "$NI" addr add "$SADDR/24" dev bgi-i
  ip -n "$NR" link set bgi-r up; ip -n "$NI" link set bgi-i up
}
mrt_file() { # N: an MRT TABLE_DUMP_V2 file of the N prefixes (one path each, from the injector's address;
  # NEXT_HOP the sender's address towards the receiver, which BIRD checks)
  local f=$W/routes-$1.mrt
  [ -s "$f" ] || python3 - "$1" "$f" "$JADDR" "$SADDR" <<'PY'
import struct, sys, time
n, fn = int(sys.argv[1]), sys.argv[2]
peer, nh = (bytes(int(x) for x in a.split(".")) for a in sys.argv[3:5])
ts = int(time.time())
def rec(sub, body): return struct.pack("!IHHI", ts, 13, sub, len(body)) + body
attrs = (bytes([0x40, 1, 1, 0]) + bytes([0x40, 2, 6, 2, 1]) + struct.pack("!I", 65300)
         + bytes([0x40, 3, 4]) + nh)                    # ORIGIN IGP, AS_PATH 65300, NEXT_HOP (on the receiver's link)
with open(fn, "wb") as f:
    f.write(rec(1, peer + struct.pack("!HH", 0, 1) + bytes([2]) + peer + peer + struct.pack("!I", 65300)))
    ent = struct.pack("!HIH", 0, ts, len(attrs)) + attrs
    for i in range(n):
        f.write(rec(2, struct.pack("!IB", i, 24) + bytes([32 + (i >> 16), (i >> 8) & 255, i & 255])
                    + struct.pack("!H", 1) + ent))
PY
  echo "$f"
}
inject_into_sender() { # N DIR
  ip netns exec "$NJ" "$INJECT" --peer "$SJADDR" --local-as 65300 --peer-as 65100 --router-id "$JADDR" \
    --source "$JADDR" --count "$1" --base 32.0.0.0 --prefix-len 24 --hold 180 --connect-timeout 30 \
    > "$2/inject.out" 2>&1 &
  SIPID=$!; PIDS+=("$SIPID")
}

# Start sender X in $NI with N prefixes, files in DIR; sets SPID and
# defines count_s (what it holds), enable_s and disable_s (its session to
# the receiver).
start_sender() { # X DIR N
  local x=$1 d=$2 n=$3
  SIPID=""; SZPID=""; SPID=""
  case $x in
  gobgp)
    {
      echo '[global.config]'; echo '  as = 65100'; echo "  router-id = \"$SADDR\""
      echo '[[neighbors]]'; echo '  [neighbors.config]'; echo "    neighbor-address = \"$RADDR\""
      echo '    peer-as = 65200'; echo '    admin-down = true'
      echo '  [[neighbors.afi-safis]]'; echo '    [neighbors.afi-safis.config]'; echo '      afi-safi-name = "ipv4-unicast"'
    } > "$d/gobgpd.toml"
    ip netns exec "$NI" "$GOBGPD" -f "$d/gobgpd.toml" -t toml -p -l warn \
      --api-hosts 127.0.0.1:50051 --pprof-disable > "$d/gobgpd.log" 2>&1 &
    SPID=$!; PIDS+=("$SPID")
    sg() { ip netns exec "$NI" "$GOBGP" -u 127.0.0.1 -p 50051 "$@"; }
    wait_for 100 sg global || { echo "sender gobgpd did not start" > "$d/why"; return 1; }
    sg mrt inject global "$(mrt_file "$n")" > "$d/mrt.out" 2>&1 || { echo "gobgp mrt inject failed" > "$d/why"; return 1; }
    count_s() { sg global rib summary -a ipv4 2>/dev/null | sed -n 's/.*Destination: \([0-9]*\).*/\1/p'; }
    enable_s() { sg neighbor "$RADDR" enable > /dev/null; }
    disable_s() { sg neighbor "$RADDR" disable > /dev/null; }
    ;;
  bird)
    {
      echo "router id $SADDR;"
      echo "log \"$d/bird.log\" { warning, error, fatal };"
      echo "protocol device { }"
      echo "protocol bgp inj { local $SJADDR as 65100; neighbor $JADDR as 65300; passive on; ipv4 { import all; export none; }; }"
      echo "protocol bgp rcv { local $SADDR as 65100; neighbor $RADDR as 65200; disabled on; ipv4 { import none; export all; }; }"
    } > "$d/bird.conf"
    ip netns exec "$NI" "$BIRD" -f -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid" > "$d/bird.out" 2>&1 &
    SPID=$!; PIDS+=("$SPID")
    wait_for 100 test -S "$d/bird.ctl" || { echo "sender bird did not start" > "$d/why"; return 1; }
    SDIR=$d
    count_s() { "$BIRDC" -s "$SDIR/bird.ctl" show protocols all inj 2>/dev/null | awk '$1 == "Routes:" { s += $2 } END { print s + 0 }'; }
    enable_s() { "$BIRDC" -s "$SDIR/bird.ctl" enable rcv > /dev/null; }
    disable_s() { "$BIRDC" -s "$SDIR/bird.ctl" disable rcv > /dev/null; }
    inject_into_sender "$n" "$d"
    ;;
  frr)
    {
      echo "router bgp 65100"; echo " bgp router-id $SADDR"; echo " no bgp ebgp-requires-policy"
      echo " neighbor $JADDR remote-as 65300"; echo " neighbor $JADDR passive"
      echo " neighbor $RADDR remote-as 65200"; echo " neighbor $RADDR shutdown"
    } > "$d/bgpd.conf"
    echo "hostname sender" > "$d/zebra.conf"; : > "$d/vtysh.conf"; chown -R frr:frr "$d"
    ip netns exec "$NI" unshare -m --propagation private sh -c \
      "mount -t tmpfs tmpfs /var/tmp && exec $ZEBRA -u frr -g frr -f $d/zebra.conf -i $d/zebra.pid \
       -z $d/zserv.api --vty_socket $d -P 0 --log file:$d/zebra.log" > "$d/zebra.out" 2>&1 &
    SZPID=$!; PIDS+=("$SZPID")
    wait_for 100 test -S "$d/zserv.api" || { echo "sender zebra did not start" > "$d/why"; return 1; }
    ip netns exec "$NI" unshare -m --propagation private sh -c \
      "mount -t tmpfs tmpfs /var/tmp && exec $BGPD -u frr -g frr -n -f $d/bgpd.conf -i $d/bgpd.pid \
       -z $d/zserv.api --vty_socket $d -P 0 --log file:$d/bgpd.log" > "$d/bgpd.out" 2>&1 &
    SPID=$!; PIDS+=("$SPID")
    wait_for 100 test -S "$d/bgpd.vty" || { echo "sender bgpd did not start" > "$d/why"; return 1; }
    SDIR=$d
    sv() { "$VTYSH_FRR" --vty_socket "$SDIR" --config_dir "$SDIR" "$@"; }
    count_s() { sv -c 'show bgp summary json' 2>/dev/null | sum_key pfxRcd; }
    enable_s() { sv -c 'configure terminal' -c 'router bgp 65100' -c "no neighbor $RADDR shutdown" > /dev/null; }
    disable_s() { sv -c 'configure terminal' -c 'router bgp 65100' -c "neighbor $RADDR shutdown" > /dev/null; }
    inject_into_sender "$n" "$d"
    ;;
  esac
  # Loaded when it holds all N, or (gobgp, whose MRT import may drop a
  # few) when the count stops growing for 2 s.
  local c=0 last=-1 same=0 t0; t0=$(now_ms)
  while :; do
    c=$(count_s 2>/dev/null) || c=0
    case $c in ''|*[!0-9]*) c=0 ;; esac
    [ "$c" -ge "$n" ] && break
    if [ "$c" = "$last" ] && [ "$c" -gt 0 ]; then same=$((same + 1)); else same=0; fi
    [ "$x" = gobgp ] && [ "$same" -ge 10 ] && break
    last=$c
    [ -n "$SIPID" ] && ! kill -0 "$SIPID" 2>/dev/null && { echo "the injector into $x exited at $c" > "$d/why"; return 1; }
    [ $(( $(now_ms) - t0 )) -gt $((TIMEOUT * 1000)) ] && { echo "$x holds only $c of $n after ${TIMEOUT}s" > "$d/why"; return 1; }
    sleep 0.2
  done
  SND_TOTAL=$c
  echo "  sender $x holds $c prefixes (loaded in $(( $(now_ms) - t0 )) ms)"
}

run_from_sender() { # RECEIVER SENDER SCENARIO RUN (the sender is loaded)
  local r=$1 x=$2 s=$3 run=$4 d t0 tdone c last tlast hwm tstart
  local key="$x/$s"
  d="$W/$r-$x-$s-$run"; mkdir -p "$d"
  make_recv_ns
  RPID=""; ZPID=""
  fail() {
    printf '  %-6s %-17s run %d: FAIL (%s)\n' "$r" "$key" "$run" "$1"; logs_of "$d"; FAILED=1
    echo "$r $key $run FAIL 0" >> "$RES"
    stop_pids "$RPID" "$ZPID"
    disable_s 2>/dev/null || true
    del_ns "$NR"
    return 0
  }
  "start_$r" "$d" 1 || { fail "$(cat "$d/why" 2>/dev/null || echo "did not start")"; return 0; }
  enable_s || { fail "cannot enable the sender's session"; return 0; }
  # T starts when the receiver's session to the sender is up (TCP).
  tstart=$(now_ms)
  until ip netns exec "$NR" ss -Htn state established '( sport = :179 or dport = :179 )' 2>/dev/null | grep -q .; do
    [ $(( $(now_ms) - tstart )) -gt 60000 ] && { fail "no session to the sender in 60 s"; return 0; }
    sleep 0.01
  done
  t0=$(now_ms)
  last=-1; tlast=$t0
  while :; do
    c=$(count_r 2>/dev/null) || c=0
    case $c in ''|*[!0-9]*) c=0 ;; esac
    if [ "$c" -ge "$SND_TOTAL" ]; then tdone=$(now_ms); break; fi
    if [ "$c" != "$last" ]; then last=$c; tlast=$(now_ms); fi
    if ! kill -0 "$RPID" 2>/dev/null; then fail "receiver exited at $c of $SND_TOTAL prefixes"; return 0; fi
    if [ $(( $(now_ms) - tlast )) -gt $((STALL * 1000)) ]; then fail "stalled at $c of $SND_TOTAL prefixes"; return 0; fi
    if [ $(( $(now_ms) - t0 )) -gt $((TIMEOUT * 1000)) ]; then fail "timeout at $c of $SND_TOTAL prefixes"; return 0; fi
    sleep 0.05
  done
  hwm=$(hwm_kb "$RPID")
  has_r "32.0.0.0/24" || [ "$x" = gobgp ] || { fail "counted $c, but 32.0.0.0/24 is not in the table"; return 0; }
  local secs; secs=$(awk -v a="$t0" -v b="$tdone" 'BEGIN { printf "%.3f", (b - a) / 1000 }')
  printf '  %-6s %-17s run %d: %8.3f s  peak RSS %7.1f MB  (%d prefixes from %s)\n' \
    "$r" "$key" "$run" "$secs" "$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')" "$SND_TOTAL" "$x"
  echo "$r $key $run $secs $hwm" >> "$RES"
  stop_pids "$RPID" "$ZPID"
  disable_s || true
  del_ns "$NR"
  sleep 1
}

echo "=== BGP ingest: senders: $SENDERS; receivers: $RECEIVERS; scenarios (sessions x prefixes): $SCENARIOS; RUNS=$RUNS"
echo "    machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -r)"
echo "    FRR $(dpkg-query -W -f='${Version}' frr 2>/dev/null || echo '?'), BIRD $(dpkg-query -W -f='${Version}' bird2 2>/dev/null || echo '?'), GoBGP $(dpkg-query -W -f='${Version}' gobgpd 2>/dev/null || echo '?'); rvpn $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?') ($PROFILE build, RUST_LOG=$RVPN_LOG)"
echo "    receiver, injector and the 50 ms poller share these $(nproc) cores (no pinning)"
ROWS=""
for x in $SENDERS; do
  for s in $SCENARIOS; do
    if [ "$x" = inject ]; then ROWS="$ROWS $s"; elif [ "${s%x*}" = 1 ]; then ROWS="$ROWS $x/$s"; fi
  done
done
for run in $(seq "$RUNS"); do      # interleave so drift hits all alike
  for x in $SENDERS; do
    for s in $SCENARIOS; do
      if [ "$x" = inject ]; then
        for r in $RECEIVERS; do run_one "$r" "$s" "$run"; done
        continue
      fi
      [ "${s%x*}" = 1 ] || { [ "$run" = 1 ] && echo "  ($x: only one-session scenarios; $s skipped)"; continue; }
      sd="$W/sender-$x-$s-$run"; mkdir -p "$sd"; chmod 755 "$sd"
      make_sender_ns
      if start_sender "$x" "$sd" "${s#*x}"; then
        for r in $RECEIVERS; do run_from_sender "$r" "$x" "$s" "$run"; done
      else
        echo "  sender $x, $s run $run: FAIL ($(cat "$sd/why" 2>/dev/null))"; logs_of "$sd"; FAILED=1
        for r in $RECEIVERS; do echo "$r $x/$s $run FAIL 0" >> "$RES"; done
      fi
      stop_pids "$SPID" "$SIPID" "$SZPID"
      del_ns
    done
  done
done

echo
if [ "$FIB" = 1 ]; then
  echo "=== medians of $RUNS run(s): seconds from the injector's first UPDATE until the receiver's kernel table holds all prefixes"
else
  echo "=== medians of $RUNS run(s): seconds from the injector's first UPDATE (a real sender: from the receiver's"
  echo "    session to it coming up) until the receiver holds all prefixes"
fi
echo
awk -v recv="$RECEIVERS" -v scen="$ROWS" -v runs="$RUNS" '
  function med(s,   a, k, i, j, t) { k = split(s, a, " ")
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
  { key = $1 " " $2; if ($4 == "FAIL") { F[key]++; next } T[key] = T[key] " " $4; M[key] = M[key] " " $5 }
  END {
    print "| sender | receiver | scenario | seconds | peak RSS MB | ratio vs BIRD |"
    print "|---|---|---|---|---|---|"
    nr = split(recv, rs, " "); ns = split(scen, ss, " ")
    for (j = 1; j <= ns; j++) {
      snd = "inject"; sc = ss[j]
      if (index(sc, "/")) { snd = substr(sc, 1, index(sc, "/") - 1); sc = substr(sc, index(sc, "/") + 1) }
      split(sc, kn, "x"); label = kn[1] " x " kn[2]
      b = (("bird " ss[j]) in T) ? med(T["bird " ss[j]]) : 0
      for (i = 1; i <= nr; i++) { key = rs[i] " " ss[j]
        if (!(key in T)) { printf "| %s | %s | %s | FAIL | - | - |\n", snd, rs[i], label; continue }
        t = med(T[key]); m = med(M[key]) / 1024
        note = (key in F) ? sprintf(" (%d of %d runs FAILED)", F[key], runs) : ""
        printf "| %s | %s | %s | %.2f%s | %.0f | %s |\n", snd, rs[i], label, t, note, m, (b > 0 ? sprintf("%.2fx", t / b) : "-") }
    }
  }' "$RES"
echo
echo "(ratio: median seconds / BIRD's median seconds in the same scenario; higher is slower."
echo " FAIL: every run failed; medians are over the runs that did not.)"
[ "$FAILED" = 0 ] || { echo "some runs failed"; exit 1; }
[ "$SMOKE" = 1 ] && echo "smoke: ok"
exit 0
