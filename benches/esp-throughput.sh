#!/usr/bin/env bash
# benches/esp-throughput.sh - TCP throughput through an IPsec tunnel
# between two gateways on this machine, host to host, and the CPU the
# gateway daemons spend on it: strongSwan against strongSwan (charon with
# kernel-libipsec), rvpn against rvpn and rvpn against strongSwan, in the
# same run, AES-256-GCM ESP (aes256gcm16 / esp-gcm 256), PSK + x25519 IKE.
#
#   hostA 10.1.0.2 -- gwA 10.1.0.1 | 10.99.0.1 -- 10.99.0.2 gwB | 10.2.0.1 -- 10.2.0.2 hostB
#
# Four network namespaces joined by veths; nothing leaves them. hostA's
# and hostB's subnets are routed into the gateways' tunnel devices
# (rvpnd's Tunnel1, kernel-libipsec's ipsec0; both MTU 1400, the hosts'
# 1500). iperf3 runs on the hosts: a server on hostB, a client on hostA
# sending for DUR seconds with 1 and with 4 parallel streams.
#
#   sw-sw      charon (gwA, initiator) -> charon (gwB)
#   rvpn-rvpn  rvpnd (gwA, initiator) -> rvpnd (gwB, tunnel destination dynamic)
#   rvpn-sw    rvpnd (gwA, initiator) -> charon (gwB)
#
# Throughput is iperf3's receiver figure (sum_received); CPU is the
# utime+stime of each gateway daemon over the iperf3 run (/proc/PID/stat,
# all threads) as a percentage of one core; drops are the UDP
# receive-buffer overflows (/proc/net/snmp RcvbufErrors) in each gateway's
# namespace plus its tunnel device's rx/tx drops over the run (where the
# TCP retransmissions come from). Daemons are started fresh for
# every pair and run; each pair is run RUNS times, interleaved, and the
# table gives medians, then the ratios rvpn / strongSwan.
#
# Usage: benches/esp-throughput.sh [--smoke]
#   env: DUR=10 STREAMS="1 4" RUNS=3 PAIRS="sw-sw rvpn-rvpn rvpn-sw"
#        PROFILE=release (--smoke: dev)  RVPN_LOG=info (rvpnd's RUST_LOG)
#        RVPN_ARGS= (extra rvpnd arguments, e.g. "--dataplane userspace")
#        NO_BUILD=1 (use the binaries already built)  KEEP=1 (keep the work dir)
#   --smoke: rvpn-rvpn only, 1 stream for 2 s, one run, dev build; exits
#        non-zero unless data got through (what CI runs).
# The build honours CARGO_TARGET_DIR (default target/).
# Needs (as root): iproute2, util-linux (unshare), strongswan-charon,
# strongswan-swanctl, libcharon-extra-plugins, libstrongswan-standard-plugins,
# python3, cargo; iperf3 (installed with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SMOKE=0
for a in "$@"; do
  case $a in
    --smoke) SMOKE=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $a (try --help)" >&2; exit 2 ;;
  esac
done
if [ "$SMOKE" = 1 ]; then
  DUR=${DUR:-2}; STREAMS=${STREAMS:-1}; RUNS=${RUNS:-1}; PAIRS=${PAIRS:-rvpn-rvpn}
  PROFILE=${PROFILE:-dev}
fi
DUR=${DUR:-10}; STREAMS=${STREAMS:-"1 4"}; RUNS=${RUNS:-3}
PAIRS=${PAIRS:-"sw-sw rvpn-rvpn rvpn-sw"}; PROFILE=${PROFILE:-release}
RVPN_LOG=${RVPN_LOG:-info}; RVPN_ARGS=${RVPN_ARGS:-}
PSK=bench-only-psk-0123456789abcdef
CHARON=/usr/lib/ipsec/charon
HA=etp$$ha; GA=etp$$ga; GB=etp$$gb; HB=etp$$hb   # namespaces
W=$(mktemp -d /tmp/esp-throughput.XXXXXX)
CLK_TCK=$(getconf CLK_TCK)

[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
case $DUR in ''|*[!0-9]*) echo "DUR must be whole seconds" >&2; exit 2 ;; esac
[ "$DUR" -ge 1 ] && [ "$DUR" -le 600 ] || { echo "DUR must be 1..600" >&2; exit 2; }
if ! command -v iperf3 >/dev/null; then
  echo "=== installing iperf3"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends iperf3 >/dev/null 2>&1 || {
    apt-get update -qq && apt-get install -y -qq --no-install-recommends iperf3 >/dev/null; }
fi
for t in ip unshare "$CHARON" swanctl python3 cargo iperf3; do
  command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 1; }
done

PIDS=()
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  for n in "$HA" "$GA" "$GB" "$HB"; do
    for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns del "$n" 2>/dev/null
  done
  if [ "${KEEP:-0}" = 1 ]; then echo "work dir kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build
if [ "$PROFILE" = dev ]; then BDIR=debug; PFLAG=(); else BDIR=$PROFILE; PFLAG=(--profile "$PROFILE"); fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET
if [ "${NO_BUILD:-0}" != 1 ]; then
  echo "=== building ($PROFILE) into $TARGET"
  if [ "$PROFILE" = dev ]; then   # what scripts/test builds: nothing new to build
    cargo build -q --workspace --bins
  else
    cargo build -q "${PFLAG[@]}" -p rvpnd --bin rvpnd -p vtysh --bin vtysh
  fi
fi
RVPND=$TARGET/$BDIR/rvpnd; VTYSH=$TARGET/$BDIR/vtysh
for b in "$RVPND" "$VTYSH"; do [ -x "$b" ] || { echo "missing $b" >&2; exit 1; }; done

# ---- namespaces: hostA - gwA - gwB - hostB
for n in "$HA" "$GA" "$GB" "$HB"; do
  ip netns add "$n"
  ip -n "$n" link set lo up
  ip netns exec "$n" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
veth() { # NS1 IF1 ADDR1 NS2 IF2 ADDR2
  ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3" dev "$2"; ip -n "$4" addr add "$6" dev "$5"
  ip -n "$1" link set "$2" up; ip -n "$4" link set "$5" up
}
veth "$HA" etp-ha 10.1.0.2/24 "$GA" etp-gal 10.1.0.1/24
veth "$GA" etp-gaw 10.99.0.1/24 "$GB" etp-gbw 10.99.0.2/24
veth "$GB" etp-gbl 10.2.0.1/24 "$HB" etp-hb 10.2.0.2/24
ip -n "$HA" route add default via 10.1.0.1
ip -n "$HB" route add default via 10.2.0.1
for n in "$GA" "$GB"; do ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1; done

# ---- helpers
ticks() { # utime+stime (clock ticks, all threads) of a running process
  awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
udp_drops() { # NS: UDP receive-buffer overflows so far (/proc/net/snmp RcvbufErrors)
  ip netns exec "$1" awk '/^Udp: [0-9]/ { print $6 + 0 }' /proc/net/snmp 2>/dev/null || echo 0
}
dev_drops() { # NS DEV: the device's rx + tx drops so far
  ip netns exec "$1" cat "/sys/class/net/$2/statistics/tx_dropped" \
    "/sys/class/net/$2/statistics/rx_dropped" 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'
}
stop_pid() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
wait_for() { # TENTHS CMD...: poll every 0.1 s
  local n=$1; shift
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

start_charon() { # NS DIR LOCAL REMOTE MYID PEERID -> LAST_PID
  local ns=$1 d=$2
  mkdir -p "$d"
  cat > "$d/strongswan.conf" <<EOF
charon {
  load = random nonce aes sha1 sha2 hmac gcm openssl curve25519 pem pkcs1 pkcs8 x509 pubkey kdf kernel-libipsec kernel-netlink socket-default vici
  install_virtual_ip = no
  filelog { log { path = $d/charon.log
                  default = 1
                  flush_line = yes } }
  syslog { daemon { default = -1 } }
  plugins {
    vici { socket = unix://$d/charon.vici }
    # kernel-libipsec routes 0.0.0.0/0 into ipsec0 in table 220; a rule
    # mark no packet carries keeps that table out of the way (as in
    # tests/support/strongswan.rs): the script routes the host subnets.
    kernel-netlink { fwmark = 0x52564e7f }
  }
}
EOF
  cat > "$d/swanctl.conf" <<EOF
connections {
  bench {
    version = 2
    local_addrs = $3
    remote_addrs = $4
    proposals = aes256gcm16-prfsha256-x25519
    local {
      auth = psk
      id = $5
    }
    remote {
      auth = psk
      id = $6
    }
    children {
      net {
        mode = tunnel
        local_ts = 0.0.0.0/0,::/0
        remote_ts = 0.0.0.0/0,::/0
        esp_proposals = aes256gcm16
        start_action = none
      }
    }
  }
}
secrets {
  ike-bench {
    id-a = $5
    id-b = $6
    secret = "$PSK"
  }
}
EOF
  ip netns exec "$ns" unshare -m --propagation private sh -c \
    "mount -t tmpfs tmpfs /run && exec env STRONGSWAN_CONF=$d/strongswan.conf $CHARON" \
    > "$d/charon.stdout" 2>&1 &
  LAST_PID=$!; PIDS+=("$LAST_PID")
  wait_for 100 test -S "$d/charon.vici" || { echo "charon in $ns did not start:"; cat "$d/charon.stdout"; exit 1; }
  swanctl --load-all --uri "unix://$d/charon.vici" --file "$d/swanctl.conf" > "$d/load.log" 2>&1 \
    || { echo "swanctl --load-all failed in $ns:"; cat "$d/load.log"; exit 1; }
}

start_rvpnd() { # NS DIR NAME LOCAL DEST MYID PEERID PEERADDR TUNADDR -> LAST_PID
  local ns=$1 d=$2
  mkdir -p "$d"
  cat > "$d/rvpnd.conf" <<EOF
hostname $3
crypto ikev2 proposal P
 encryption aes-gcm-256
 prf sha256
 group 31
!
crypto ikev2 keyring K
 peer other
  address $8
  identity fqdn $7
  pre-shared-key 0 $PSK
!
crypto ikev2 profile PROF
 match identity remote fqdn $7
 identity local fqdn $6
 authentication local pre-share
 authentication remote pre-share
 keyring local K
 proposal P
!
crypto ipsec transform-set TS esp-gcm 256
!
crypto ipsec profile IPS
 set transform-set TS
 set ikev2-profile PROF
!
interface Tunnel1
 ip address $9
 tunnel source $4
 tunnel destination $5
 tunnel protection ipsec profile IPS
!
EOF
  # shellcheck disable=SC2086 # RVPN_ARGS is a list of words
  ip netns exec "$ns" env RUST_LOG="$RVPN_LOG" "$RVPND" -f "$d/rvpnd.conf" \
    --socket "$d/rvpnd.sock" $RVPN_ARGS > "$d/rvpnd.log" 2>&1 &
  LAST_PID=$!; PIDS+=("$LAST_PID")
  wait_for 100 test -S "$d/rvpnd.sock" || { echo "rvpnd in $ns did not start:"; cat "$d/rvpnd.log"; exit 1; }
}
rvpnd_up() { # DIR
  "$VTYSH" --socket "$1/rvpnd.sock" -c "show crypto session" 2>/dev/null | grep -q UP-ACTIVE
}
has_link() { ip -n "$1" link show "$2" >/dev/null 2>&1; }

logs_of() { # DIR...: the last lines of each daemon's log
  for d in "$@"; do
    for f in "$d"/rvpnd.log "$d"/charon.log; do
      [ -f "$f" ] && { echo "    --- $f"; tail -15 "$f" | sed 's/^/    /'; }
    done
  done
  return 0
}

# Bring up one pair; sets APID BPID (gateway daemons) or returns 1.
pair_up() { # PAIR DIR
  local pair=$1 d=$2 a b
  case $pair in
    sw-sw) a=sw; b=sw ;;
    rvpn-rvpn) a=rvpn; b=rvpn ;;
    rvpn-sw) a=rvpn; b=sw ;;
    *) echo "unknown pair $pair" >&2; exit 2 ;;
  esac
  if [ $b = sw ]; then
    start_charon "$GB" "$d/b" 10.99.0.2 10.99.0.1 gwb.bench gwa.bench; BPID=$LAST_PID
  else
    start_rvpnd "$GB" "$d/b" gwb 10.99.0.2 dynamic gwb.bench gwa.bench 10.99.0.1 169.254.100.2/30
    BPID=$LAST_PID
  fi
  if [ $a = sw ]; then
    start_charon "$GA" "$d/a" 10.99.0.1 10.99.0.2 gwa.bench gwb.bench; APID=$LAST_PID
    swanctl --initiate --uri "unix://$d/a/charon.vici" --child net --ike bench --timeout 10 \
      > "$d/initiate.log" 2>&1 || { echo "!!! $pair: initiation failed"; tail -5 "$d/initiate.log"; return 1; }
  else
    start_rvpnd "$GA" "$d/a" gwa 10.99.0.1 10.99.0.2 gwa.bench gwb.bench 10.99.0.2 169.254.100.1/30
    APID=$LAST_PID
    wait_for 150 rvpnd_up "$d/a" || { echo "!!! $pair: rvpnd on gwA never UP-ACTIVE"; return 1; }
  fi
  # Route each host subnet into the other gateway's tunnel device.
  local ta tb
  ta=$([ $a = sw ] && echo ipsec0 || echo Tunnel1); tb=$([ $b = sw ] && echo ipsec0 || echo Tunnel1)
  wait_for 100 has_link "$GA" $ta || { echo "!!! $pair: no $ta on gwA"; return 1; }
  wait_for 100 has_link "$GB" $tb || { echo "!!! $pair: no $tb on gwB"; return 1; }
  ip -n "$GA" route replace 10.2.0.0/24 dev $ta
  ip -n "$GB" route replace 10.1.0.0/24 dev $tb
  wait_for 50 ip netns exec "$HA" ping -c 1 -W 1 10.2.0.2 \
    || { echo "!!! $pair: hostA cannot ping hostB through the tunnel"; return 1; }
  TUN_A=$ta; TUN_B=$tb
  TUN_MTU="$(ip -n "$GA" -o link show $ta | sed -n 's/.* mtu \([0-9]*\).*/\1/p')/$(ip -n "$GB" -o link show $tb | sed -n 's/.* mtu \([0-9]*\).*/\1/p')"
  return 0
}

cat > "$W/iperf_sum.py" <<'EOF'
import json, sys
try:
    e = json.load(open(sys.argv[1]))["end"]
    print("%.1f %d" % (e["sum_received"]["bits_per_second"] / 1e6,
                       e["sum_sent"].get("retransmits", 0)))
except Exception:
    print("0 0")
EOF
RES=$W/results.txt; : > "$RES"
FAILED=0
run_one() { # PAIR RUN
  local pair=$1 r=$2 d="$W/$1-$2" n
  mkdir -p "$d"
  APID=""; BPID=""
  if ! pair_up "$pair" "$d"; then
    logs_of "$d/a" "$d/b"; FAILED=1
    [ -n "$APID" ] && stop_pid "$APID"; [ -n "$BPID" ] && stop_pid "$BPID"
    for n in $STREAMS; do echo "$pair $n $r 0 0 0 0 0 0" >> "$RES"; done
    return 0
  fi
  for n in $STREAMS; do
    local port=$((5201 + n)) a0 b0 a1 b1 mbit retr
    ip netns exec "$HB" iperf3 -s -1 -B 10.2.0.2 -p $port > "$d/iperf-srv-$n.log" 2>&1 &
    local spid=$!; PIDS+=("$spid")
    wait_for 50 ip netns exec "$HB" sh -c "ss -ltn | grep -q ':$port '" || true
    local ua0 ub0 ta0 tb0 ua1 ub1 ta1 tb1
    ua0=$(udp_drops "$GA"); ub0=$(udp_drops "$GB"); ta0=$(dev_drops "$GA" "$TUN_A"); tb0=$(dev_drops "$GB" "$TUN_B")
    a0=$(ticks "$APID"); b0=$(ticks "$BPID")
    ip netns exec "$HA" timeout $((DUR + 30)) iperf3 -c 10.2.0.2 -B 10.1.0.2 -p $port \
      -t "$DUR" -P "$n" -J > "$d/iperf-$n.json" 2> "$d/iperf-$n.err" || true
    a1=$(ticks "$APID"); b1=$(ticks "$BPID")
    ua1=$(udp_drops "$GA"); ub1=$(udp_drops "$GB"); ta1=$(dev_drops "$GA" "$TUN_A"); tb1=$(dev_drops "$GB" "$TUN_B")
    stop_pid "$spid"
    read -r mbit retr < <(python3 "$W/iperf_sum.py" "$d/iperf-$n.json")
    local acpu bcpu
    acpu=$(awk -v a="$a0" -v b="$a1" -v hz="$CLK_TCK" -v t="$DUR" 'BEGIN { printf "%.0f", (b - a) / hz / t * 100 }')
    bcpu=$(awk -v a="$b0" -v b="$b1" -v hz="$CLK_TCK" -v t="$DUR" 'BEGIN { printf "%.0f", (b - a) / hz / t * 100 }')
    local dua=$((ua1 - ua0)) dub=$((ub1 - ub0)) dta=$((ta1 - ta0)) dtb=$((tb1 - tb0))
    echo "$pair $n $r $mbit $acpu $bcpu $retr $((dua + dta)) $((dub + dtb))" >> "$RES"
    printf '  %-10s %d stream(s) run %d: %8.1f Mbit/s  (gwA %s%%, gwB %s%% of a core; %s retransmits; drops UDP-rcvbuf/tunnel-dev: gwA %s/%s gwB %s/%s; tunnel MTU %s)\n' \
      "$pair" "$n" "$r" "$mbit" "$acpu" "$bcpu" "$retr" "$dua" "$dta" "$dub" "$dtb" "$TUN_MTU"
    if awk -v m="$mbit" 'BEGIN { exit !(m + 0 <= 0) }'; then
      echo "!!! $pair $n stream(s): no throughput"; sed 's/^/    /' "$d/iperf-$n.err" | tail -5
      logs_of "$d/a" "$d/b"; FAILED=1
    fi
  done
  stop_pid "$APID"; stop_pid "$BPID"
  ip -n "$GA" route flush 10.2.0.0/24 2>/dev/null || true
  ip -n "$GB" route flush 10.1.0.0/24 2>/dev/null || true
}

echo "=== ESP throughput: iperf3 TCP hostA -> hostB, ${DUR} s, streams: $STREAMS, RUNS=$RUNS, pairs: $PAIRS"
echo "    machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -r)"
echo "    strongSwan $(dpkg-query -W -f='${Version}' strongswan-charon 2>/dev/null || echo '?') (kernel-libipsec); iperf3 $(iperf3 --version 2>/dev/null | head -1 | awk '{print $2}'); rvpn $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?') ($PROFILE build); rvpnd RUST_LOG=$RVPN_LOG ${RVPN_ARGS}"
echo "    both gateways, both hosts and iperf3 share these $(nproc) cores (no pinning)"
for r in $(seq "$RUNS"); do       # interleave pairs so drift hits all alike
  for p in $PAIRS; do run_one "$p" "$r"; done
done

echo
echo "=== medians of $RUNS run(s), ${DUR} s each (CPU: % of one core over the iperf3 run)"
awk -v pairs="$PAIRS" -v streams="$STREAMS" '
  function med(s,   a, k, i, j, t) { k = split(s, a, " ")
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
  { key = $1 " " $2; T[key] = T[key] " " $4; A[key] = A[key] " " $5; B[key] = B[key] " " $6; R[key] = R[key] " " $7
    DA[key] = DA[key] " " $8; DB[key] = DB[key] " " $9 }
  END {
    printf "%-10s %7s %10s %9s %9s %11s %9s %9s %12s\n", "pair", "streams", "Mbit/s", "gwA CPU%", "gwB CPU%", "retransmits", "gwA drops", "gwB drops", "Mbit/s/core"
    np = split(pairs, ps, " "); ns = split(streams, ss, " ")
    for (j = 1; j <= ns; j++) for (i = 1; i <= np; i++) { key = ps[i] " " ss[j]; if (!(key in T)) continue
      t = med(T[key]); a = med(A[key]); b = med(B[key]); M[key] = t
      printf "%-10s %7d %10.1f %9.0f %9.0f %11.0f %9.0f %9.0f %12.1f\n", ps[i], ss[j], t, a, b, med(R[key]), med(DA[key]), med(DB[key]), (a + b > 0 ? t / ((a + b) / 100) : 0) }
    print ""
    for (j = 1; j <= ns; j++) {
      base = M["sw-sw " ss[j]]
      for (i = 1; i <= np; i++) { p = ps[i]; if (p == "sw-sw" || !((p " " ss[j]) in M)) continue
        if (base > 0) printf "ratio %s / sw-sw, %d stream(s): %.2fx\n", p, ss[j], M[p " " ss[j]] / base
        else printf "ratio %s / sw-sw, %d stream(s): - (no sw-sw figure)\n", p, ss[j] }
    }
  }' "$RES"
echo "(Mbit/s/core: throughput per core of both gateway daemons together. drops: UDP receive-buffer"
echo " overflows in the gateway's namespace plus rx/tx drops of its tunnel device, over the run.)"
if [ "$SMOKE" = 1 ]; then
  got=$(awk '$1 == "rvpn-rvpn" && $4 + 0 > 0 { ok = 1 } END { print ok + 0 }' "$RES")
  [ "$got" = 1 ] || { echo "smoke: rvpn-rvpn carried nothing"; exit 1; }
  echo "smoke: ok"
fi
[ "$FAILED" = 0 ] || { echo "some runs failed"; exit 1; }
