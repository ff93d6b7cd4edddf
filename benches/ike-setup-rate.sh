#!/usr/bin/env bash
# benches/ike-setup-rate.sh - IKE SAs established per second between two
# processes on this machine (issue #3 point 7): rvpn against rvpn, rvpn
# against strongSwan (both ways) and strongSwan against strongSwan, in the
# same run, PSK + x25519 (aes256gcm16-prfsha256-x25519, ESP aes256gcm16);
# with AUTH=ecdsa, ECDSA P-256 certificates instead of the PSK (issue 15).
#
# Each pair runs in two network namespaces joined by a veth (10.97.0.1
# initiator, 10.97.0.2 responder); nothing leaves them. Daemons are
# started fresh for every run and stopped after it.
#
#   sw-sw        charon -> charon, IKE SAs only (no CHILD_SA): the same
#                measurement as shared/peers/strongswan-loadtest.sh (vici
#                driver firing asynchronous initiations with a window of
#                WINDOW half-open SAs, polling 'stats' until N are up).
#   sw-sw-child  the same with a CHILD_SA in IKE_AUTH (what rvpn always
#                negotiates: a tunnel interface is an IKE SA plus its
#                Child SA), kernel-libipsec installing them.
#   rvpn-rvpn    ikeload (rvpn's ike::sa::Engine in ike::driver's loop,
#                N spoke tunnels, window WINDOW) -> rvpnd hub with N
#                `tunnel destination dynamic` interfaces.
#   rvpn-sw      ikeload -> charon responder (remote %any, CHILD_SA).
#   sw-rvpn      charon initiator (N connections spoke<i>.bench, CHILD_SA,
#                same vici driver) -> rvpnd hub.
#   rvpn-rvpn-burst  (not in the default list) ikeload with all N tunnels
#                started at once (no window) -> rvpnd hub.
#   Virtual-Template hubs (issue 16; HUB=vt runs these and sw-sw-child):
#   rvpn-vt      ikeload --cp (each spoke asks for an IPv4 address in a
#                CFG_REQUEST) -> rvpnd hub with ONE `interface
#                Virtual-Template1 type tunnel` and an `ip local pool`:
#                every spoke gets a Virtual-AccessN (a TUN rvpn-vaN made on
#                its Child SA), a pool address and a host route.
#   rvpn-vt-none the same hub with `--dataplane none`: IKE, pool and
#                routing without creating interfaces.
#   sw-pool      charon initiator asking for a virtual IP (vips = 0.0.0.0)
#                -> charon hub with one connection and `pools` (the same
#                job as rvpn-vt's hub; kernel-libipsec: one TUN in all).
#
# Rate = N / seconds from the first initiation until the initiator counts
# N established (for rvpn: N tunnels Up = IKE SA + Child SA). Each pair is
# run RUNS times; the table shows medians and the ratio to sw-sw's median.
# CPU is utime+stime of each process over the run (/proc/PID/stat); the
# responder's is also split into user and system time and given per SA.
# An rvpnd hub is stopped (SIGTERM) after each run and the script waits
# (up to STOP_WAIT s) until it has exited and its interfaces are gone
# before the next pair starts; the seconds this took are the "stop s"
# column.
#
# Usage: benches/ike-setup-rate.sh [--smoke]
#   env: N=1000 WINDOW=64 RUNS=3 PAIRS="sw-sw rvpn-rvpn rvpn-sw sw-rvpn sw-sw-child"
#        HUB=vt (PAIRS default "sw-sw-child sw-pool rvpn-vt rvpn-vt-none")
#        STOP_WAIT=60 (s to wait for a stopped rvpnd and its interfaces)
#        NS_PREFIX=ikb (namespaces NS_PREFIX<pid>i / NS_PREFIX<pid>r)
#        PROFILE=release (--smoke: dev)  RVPN_LOG=info (rvpnd's RUST_LOG)
#        SW_COOKIE_THRESHOLD_IP= (charon's per-address COOKIE threshold;
#        unset: strongSwan's default 3, as the shared script)
#        AUTH=psk|ecdsa (ecdsa: every end signs with its own P-256
#        certificate from one CA, made with openssl and cached in
#        $CARGO_TARGET_DIR/bench-pki-ecdsa; default pairs "sw-sw rvpn-rvpn")
#        TIMEOUT=120 (s per run)  NO_BUILD=1 (use the binaries already built)  KEEP=1 (keep the work dir)  PERF=1 (perf
#        record the rvpn processes of the first rvpn-rvpn run)
#   --smoke: N=20 RUNS=1, dev build: checks that everything builds and runs.
# Needs (as root): iproute2, util-linux (unshare), strongswan-charon,
# strongswan-swanctl, libstrongswan-standard-plugins, libcharon-extra-plugins,
# python3 with the `vici` module (installed from PyPI if missing), cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source "$ROOT/benches/lib.sh"

SMOKE=0
for a in "$@"; do
  case $a in
    --smoke) SMOKE=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $a (try --help)" >&2; exit 2 ;;
  esac
done
if [ "$SMOKE" = 1 ]; then
  N=${N:-20}; RUNS=${RUNS:-1}; PROFILE=${PROFILE:-dev}; TIMEOUT=${TIMEOUT:-20}
fi
N=${N:-1000}; WINDOW=${WINDOW:-64}; RUNS=${RUNS:-3}; PROFILE=${PROFILE:-release}
TIMEOUT=${TIMEOUT:-120}; RVPN_LOG=${RVPN_LOG:-info}
AUTH=${AUTH:-psk}; STOP_WAIT=${STOP_WAIT:-60}
[ "${HUB:-}" = vt ] && PAIRS=${PAIRS:-"sw-sw-child sw-pool rvpn-vt rvpn-vt-none"}
case $AUTH in
  psk) PAIRS=${PAIRS:-"sw-sw rvpn-rvpn rvpn-sw sw-rvpn sw-sw-child"} ;;
  ecdsa) PAIRS=${PAIRS:-"sw-sw rvpn-rvpn"}
         case " $PAIRS " in *" sw-rvpn "*|*" rvpn-vt"*|*" sw-pool "*)
           echo "AUTH=ecdsa: sw-rvpn, sw-pool and the rvpn-vt pairs are PSK only" >&2; exit 2 ;; esac ;;
  *) echo "AUTH must be psk or ecdsa" >&2; exit 2 ;;
esac
PSK=bench-only-psk-0123456789
CHARON=/usr/lib/ipsec/charon
NS_PREFIX=${NS_PREFIX:-ikb}     # namespaces (initiator, responder)
NI=$NS_PREFIX$$i; NR=$NS_PREFIX$$r
IP_I=10.97.0.1; IP_R=10.97.0.2
W=$(mktemp -d /tmp/ike-setup-rate.XXXXXX)
CLK_TCK=$(getconf CLK_TCK)

[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
[ "$N" -ge 1 ] && [ "$N" -le 16000 ] || { echo "N must be 1..16000" >&2; exit 2; }
for t in ip unshare "$CHARON" swanctl python3 cargo; do
  command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 1; }
done
python3 -c 'import vici' 2>/dev/null || pip install -q vici >/dev/null 2>&1 \
  || python3 -m pip install -q vici
python3 -c 'import vici' || { echo "python3 vici module missing" >&2; exit 1; }

PIDS=()
cleanup() {
  set +e
  bench_stop_all 10
  ip netns del "$NI" 2>/dev/null; ip netns del "$NR" 2>/dev/null
  bench_remove_workdir
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build
if [ "$PROFILE" = dev ]; then BDIR=debug; PFLAG=(); else BDIR=$PROFILE; PFLAG=(--profile "$PROFILE"); fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET   # ikeload (its own workspace) builds next to rvpnd
if [ "${NO_BUILD:-0}" != 1 ]; then
  echo "=== building ($PROFILE) into $TARGET"
  if [ "$PROFILE" = dev ]; then   # what scripts/test builds: nothing new to build
    cargo build -q --workspace --bins
  else
    cargo build -q "${PFLAG[@]}" -p rvpnd --bin rvpnd -p vtysh --bin vtysh
  fi
  cargo build -q "${PFLAG[@]}" --manifest-path benches/ikeload/Cargo.toml
fi
RVPND=$TARGET/$BDIR/rvpnd; VTYSH=$TARGET/$BDIR/vtysh; IKELOAD=$TARGET/$BDIR/ikeload
for b in "$RVPND" "$VTYSH" "$IKELOAD"; do [ -x "$b" ] || { echo "missing $b" >&2; exit 1; }; done

# ---- certificates (AUTH=ecdsa): a P-256 CA, the hub, strongSwan's two
# ends and N spokes, each with its identity in subjectAltName. Made once
# (openssl, two at a time) and kept for later runs.
PKI=$TARGET/bench-pki-ecdsa
cert() { # NAME DNS-NAME
  [ -s "$PKI/$1.pem" ] && return 0
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$PKI/$1.key" -out "$PKI/$1.pem.tmp" -subj "/O=Bench/CN=$1" -days 3650 \
    -addext "subjectAltName=DNS:$2" -addext "basicConstraints=CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" 2>/dev/null && mv "$PKI/$1.pem.tmp" "$PKI/$1.pem"
}
if [ "$AUTH" = ecdsa ]; then
  command -v openssl >/dev/null || { echo "missing: openssl" >&2; exit 1; }
  mkdir -p "$PKI"
  if [ ! -s "$PKI/ca.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI/ca.key" \
      -out "$PKI/ca.pem" -subj "/O=Bench/CN=Bench CA" -days 3650 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  fi
  echo "=== certificates in $PKI"
  cert hub hub.bench; cert swll swll.test; cert swlr swlr.test
  export PKI; export -f cert
  seq 0 $((N - 1)) | xargs -P 2 -I{} bash -c 'cert spoke{} spoke{}.bench'
  for i in 0 $((N - 1)); do [ -s "$PKI/spoke$i.pem" ] || { echo "certificate spoke$i missing" >&2; exit 1; }; done
fi

# ---- namespaces
ip netns add "$NI"; ip netns add "$NR"
ip link add ikb-i netns "$NI" type veth peer name ikb-r netns "$NR"
ip -n "$NI" addr add $IP_I/24 dev ikb-i; ip -n "$NR" addr add $IP_R/24 dev ikb-r
for n in "$NI" "$NR"; do ip -n "$n" link set lo up; done
ip -n "$NI" link set ikb-i up; ip -n "$NR" link set ikb-r up

# ---- helpers
cpu_of() { # seconds of CPU (all threads) of a running process
  awk -v hz="$CLK_TCK" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}
cpu_us() { # "user system" seconds of CPU of a running process
  # (the command name, field 2, may hold spaces: count from the end)
  local l; l=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || { echo "0 0"; return; }
  awk -v hz="$CLK_TCK" '{ printf "%.3f %.3f", $12 / hz, $13 / hz }' <<<"$l"
}
va_links() { # NS: rvpn TUNs (Virtual-Access and Tunnel) in a namespace
  ip -n "$1" -o link show 2>/dev/null | grep -c ': rvpn-\|: Tunnel' || true
}
stop_rvpnd() { # NS PID -> STOP_SECS: SIGTERM, then wait until the process
  # has exited (not only left as a zombie: the kernel may still be tearing
  # down its TUNs) and no interface of it is left in NS, at most STOP_WAIT s.
  local t0 st; t0=$(date +%s.%N)
  kill "$2" 2>/dev/null || true
  for _ in $(seq $((STOP_WAIT * 10))); do
    st=$(sed 's/^.*) //' "/proc/$2/stat" 2>/dev/null | cut -d' ' -f1 || true)
    { [ -z "$st" ] || [ "$st" = Z ]; } && break
    sleep 0.1
  done
  if [ -n "$st" ] && [ "$st" != Z ]; then
    echo "    rvpnd $2 still running $STOP_WAIT s after SIGTERM (state $st): SIGKILL"
    kill -9 "$2" 2>/dev/null || true
  fi
  wait "$2" 2>/dev/null || true          # reap it (it is our child)
  local left=0
  for _ in $(seq $((STOP_WAIT * 10))); do
    left=$(va_links "$1"); [ "$left" = 0 ] && break; sleep 0.1
  done
  [ "$left" = 0 ] || echo "    $left rvpn interfaces still in $1 after $STOP_WAIT s"
  STOP_SECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
}
stop_pid() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
field() { # field KEY "RESULT k=v ..."
  tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -1
}

swan_conf() { # DIR: strongswan.conf as the shared load-test script writes it
  local d=$1 cookie_ip=""
  # strongSwan >= 5.9 also demands a COOKIE after cookie_threshold_ip (3)
  # half-open SAs from one address; the shared script leaves it on.
  [ -n "${SW_COOKIE_THRESHOLD_IP:-}" ] && cookie_ip="  cookie_threshold_ip = $SW_COOKIE_THRESHOLD_IP"
  cat > "$d/strongswan.conf" <<EOF
charon {
  load = random nonce aes sha1 sha2 hmac gcm openssl curve25519 pem pkcs1 pkcs8 x509 pubkey constraints kdf kernel-libipsec kernel-netlink socket-default vici counters
  reuse_ikesa = no          # every initiate creates a new IKE_SA
  # disable DoS protections that would throttle one peer IP:
  block_threshold = 1000000
  cookie_threshold = 1000000
  init_limit_half_open = 0
  ikesa_table_size = 4096
  ikesa_table_segments = 16
  threads = 16
  retransmit_timeout = 2.0
$cookie_ip
  install_routes = no       # CHILD_SAs with 0.0.0.0/0: keep IKE's own route
  install_virtual_ip = no
  filelog { log { path = $d/charon.log
                  default = 0
                  flush_line = no } }
  syslog { daemon { default = -1 } }
  plugins { vici { socket = unix://$d/charon.vici } }
}
EOF
}
CHILD_BLOCK="    children {
      net {
        local_ts = 0.0.0.0/0
        remote_ts = 0.0.0.0/0
        esp_proposals = aes256gcm16
        start_action = none
      }
    }"
swan_creds() { # DIR NAME: strongSwan's certificate NAME, its key and the CA (AUTH=ecdsa)
  mkdir -p "$1/x509" "$1/x509ca" "$1/private"
  cp "$PKI/ca.pem" "$1/x509ca/"; cp "$PKI/$2.pem" "$1/x509/"; cp "$PKI/$2.key" "$1/private/"
}
swan_auth() { # [CERTNAME]: the auth lines of a swanctl local/remote section
  if [ "$AUTH" = ecdsa ]; then
    echo "      auth = pubkey"
    [ -n "${1:-}" ] && echo "      certs = $1.pem"
  else
    echo "      auth = psk"
  fi
  return 0
}
swan_lt() { # DIR LOCAL REMOTE MYID PEERID CHILD(0|1): the shared script's "lt"
  local ch=""; [ "$6" = 1 ] && ch=$CHILD_BLOCK
  local me=${4%%.test}
  [ "$AUTH" = ecdsa ] && swan_creds "$1" "$me"
  cat > "$1/swanctl.conf" <<EOF
connections {
  lt {
    version = 2
    local_addrs = $2
    remote_addrs = $3
    proposals = aes256gcm16-prfsha256-x25519
    unique = never
    local {
$(swan_auth "$me")
      id = $4
    }
    remote {
$(swan_auth)
      id = $5
    }
$ch
  }
}
$(swan_secrets swll.test swlr.test)
EOF
}
swan_hub() { # DIR [pool]: responder for many spokes (any id, any address);
  # with "pool", each spoke's virtual IP comes from a pool (sw-pool)
  local pool="" child=$CHILD_BLOCK pools=""
  [ "$AUTH" = ecdsa ] && swan_creds "$1" hub
  if [ "${2:-}" = pool ]; then
    pool="    pools = spokes"
    child=${CHILD_BLOCK/remote_ts = 0.0.0.0\/0/remote_ts = dynamic}
    pools=$'pools {\n  spokes {\n    addrs = 10.200.0.0/16\n  }\n}'
  fi
  cat > "$1/swanctl.conf" <<EOF
connections {
  hub {
    version = 2
    local_addrs = $IP_R
    remote_addrs = %any
    proposals = aes256gcm16-prfsha256-x25519
    unique = never
$pool
    local {
$(swan_auth hub)
      id = hub.bench
    }
    remote {
$(swan_auth)
    }
$child
  }
}
$pools
secrets {
  ike-any {
    secret = $PSK
  }
}
EOF
}
swan_pool_spoke() { # DIR: "lt" asking for a virtual IP for its CHILD_SA
  cat > "$1/swanctl.conf" <<EOF
connections {
  lt {
    version = 2
    local_addrs = $IP_I
    remote_addrs = $IP_R
    proposals = aes256gcm16-prfsha256-x25519
    unique = never
    vips = 0.0.0.0
    local {
      auth = psk
      id = swll.test
    }
    remote {
      auth = psk
      id = hub.bench
    }
    children {
      net {
        local_ts = dynamic
        remote_ts = 0.0.0.0/0
        esp_proposals = aes256gcm16
        start_action = none
      }
    }
  }
}
$(swan_secrets swll.test hub.bench)
EOF
}
swan_leases() { # DIR: online leases of the hub's pool
  swanctl --list-pools --uri "unix://$1/charon.vici" 2>/dev/null |
    awk '$1 == "spokes" { print $3 + 0 }' | head -1
}
swan_secret_only() { # DIR: the initiator of sw-rvpn gets its connections over vici
  printf 'secrets {\n  ike-any {\n    secret = %s\n  }\n}\n' "$PSK" > "$1/swanctl.conf"
}
start_charon() { # NS DIR -> PID in LAST_PID
  local d=$2
  ip netns exec "$1" unshare -m --propagation private sh -c \
    "mount -t tmpfs tmpfs /run && exec env STRONGSWAN_CONF=$d/strongswan.conf $CHARON" \
    > "$d/charon.stdout" 2>&1 &
  LAST_PID=$!; PIDS+=("$LAST_PID")
  for _ in $(seq 100); do [ -S "$d/charon.vici" ] && break; sleep 0.1; done
  [ -S "$d/charon.vici" ] || { echo "charon in $1 did not start:"; cat "$d/charon.stdout"; exit 1; }
  SWANCTL_DIR=$d swanctl --load-all --uri "unix://$d/charon.vici" --file "$d/swanctl.conf" > "$d/load.log" 2>&1 \
    || { echo "swanctl --load-all failed in $1:"; cat "$d/load.log"; exit 1; }
  if grep -v 'opening directory' "$d/load.log" | grep -q 'failed'; then cat "$d/load.log"; exit 1; fi
}
swan_established() { # DIR: established IKE SAs of a charon
  swanctl --stats --uri "unix://$1/charon.vici" 2>/dev/null |
    awk '/IKE_SAs:/ { gsub(",", ""); print $2 - $4 }'
}

rvpnd_auth() { # the hub's credentials and the profile's first lines
  if [ "$AUTH" = ecdsa ]; then
    printf '%s\n' "crypto pki trustpoint BENCH" " ca-certificate $PKI/ca.pem" \
      " certificate $PKI/hub.pem" " private-key $PKI/hub.key" "!" \
      "crypto ikev2 profile PROF" " match identity remote fqdn domain bench" \
      " identity local fqdn hub.bench" " authentication local ecdsa-sig" \
      " authentication remote ecdsa-sig" " pki trustpoint BENCH"
  else
    printf '%s\n' "crypto ikev2 keyring K" " peer spokes" "  address 0.0.0.0/0" \
      "  pre-shared-key 0 $PSK" "!" "crypto ikev2 profile PROF" \
      " match identity remote fqdn domain bench" " identity local fqdn hub.bench" \
      " authentication local pre-share" " authentication remote pre-share" " keyring local K"
  fi
}
source "$ROOT/benches/vt-hub-conf.sh"
rvpnd_vt_conf() { # FILE: a Virtual-Template hub (vt-hub-conf.sh), no DPD
  vt_hub_conf "$N" "$IP_R" "$PSK" > "$1"
}
rvpnd_hub_conf() { # FILE: a hub with N dynamic tunnel interfaces
  {
    # Every initiator of the benchmark is one address with a window of
    # half-open SAs: lift the per-address and total half-open limits, as
    # the charon responders lift block_threshold and init_limit_half_open.
    cat <<EOF
hostname bench-hub
crypto ikev2 limit max-in-negotiation-sa 100000
crypto ikev2 limit max-in-negotiation-sa-per-address 100000
crypto ikev2 proposal P
 encryption aes-gcm-256
 prf sha256
 group 31
!
$(rvpnd_auth)
 proposal P
!
crypto ipsec transform-set TS esp-gcm 256
!
crypto ipsec profile IPS
 set transform-set TS
 set ikev2-profile PROF
!
EOF
    awk -v n="$N" -v src="$IP_R" 'BEGIN { for (i = 0; i < n; i++) { b = i * 4
      printf "interface Tunnel%d\n ip address 169.254.%d.%d/30\n tunnel source %s\n tunnel destination dynamic\n tunnel protection ipsec profile IPS\n!\n", i + 1, int(b / 256), b % 256 + 1, src } }'
    echo end
  } > "$1"
}
start_rvpnd() { # NS DIR [tunnels|vt|vt-none] -> PID in LAST_PID; returns once
  # IKE has the N tunnels (a Virtual-Template hub: once it has its template)
  local d=$2 kind=${3:-tunnels} dp=()
  case $kind in
    tunnels) rvpnd_hub_conf "$d/rvpnd.conf" ;;
    vt) rvpnd_vt_conf "$d/rvpnd.conf" ;;
    vt-none) rvpnd_vt_conf "$d/rvpnd.conf"; dp=(--dataplane none) ;;
  esac
  ip netns exec "$1" env RUST_LOG="$RVPN_LOG" "$RVPND" -f "$d/rvpnd.conf" \
    --socket "$d/rvpnd.sock" "${dp[@]}" > "$d/rvpnd.log" 2>&1 &
  LAST_PID=$!; PIDS+=("$LAST_PID")
  local n=0
  for _ in $(seq 200); do
    if [ -S "$d/rvpnd.sock" ]; then
      if [ "$kind" != tunnels ]; then
        "$VTYSH" --socket "$d/rvpnd.sock" -c "show running-config" 2>/dev/null |
          grep -q '^interface Virtual-Template1' && return 0
        sleep 0.1; continue
      fi
      n=$("$VTYSH" --socket "$d/rvpnd.sock" -c "show crypto session" 2>/dev/null | grep -c 'Tunnel' || true)
      [ "$n" -ge "$N" ] && return 0
    fi
    kill -0 "$LAST_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "rvpnd in $1 did not come up with $N tunnels (saw $n):"; tail -20 "$d/rvpnd.log"; exit 1
}
rvpnd_up() { # DIR: tunnels UP-ACTIVE on rvpnd
  "$VTYSH" --socket "$1/rvpnd.sock" -c "show crypto session" 2>/dev/null | grep -c 'UP-ACTIVE' || true
}

# The vici driver of shared/peers/strongswan-loadtest.sh, generalised:
# mode "one" initiates connection "lt" N times (child "net" if asked);
# mode "many" first loads connections lt0..lt<N-1> with identities
# spoke<i>.bench (what rvpnd's hub tells apart) and initiates each once.
cat > "$W/vici_driver.py" <<'EOF'
import os, socket, sys, time, vici
isock, N, WIN, mode, child, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], float(sys.argv[6])
local, remote = sys.argv[7], sys.argv[8]
s = socket.socket(socket.AF_UNIX); s.connect(isock); I = vici.Session(s)
if mode == "many":
    for i in range(N):
        I.load_conn({f"lt{i}": {
            "version": "2", "local_addrs": [local], "remote_addrs": [remote],
            "proposals": ["aes256gcm16-prfsha256-x25519"], "unique": "never",
            "local": {"auth": "psk", "id": f"spoke{i}.bench"},
            "remote": {"auth": "psk", "id": "hub.bench"},
            "children": {"net": {"local_ts": ["0.0.0.0/0"], "remote_ts": ["0.0.0.0/0"],
                                 "esp_proposals": ["aes256gcm16"], "start_action": "none"}}}})
def st():
    i = I.stats()["ikesas"]; return int(i["total"]), int(i["half-open"])
if WIN <= 0: WIN = N
fired = 0; est = 0; c0 = os.times(); t0 = time.time()
while True:
    tot, half = st()
    est = tot - half
    if est >= N: break
    # keep at most WIN half-open SAs in flight; initiate asynchronously (timeout=-1)
    burst = min(WIN - half, N - fired)
    for _ in range(max(0, burst)):
        req = {"ike": f"lt{fired}" if mode == "many" else "lt", "timeout": "-1"}
        if child: req["child"] = child
        for _m in I.initiate(req): pass
        fired += 1
    if time.time() - t0 > timeout:
        print(f"vici driver: gave up after {timeout} s with {est} of {N}", file=sys.stderr); break
    time.sleep(0.002)
dt = time.time() - t0
c1 = os.times()
print(f"RESULT ok={int(est >= N)} n={N} up={est} secs={dt:.4f} rate={est / dt:.1f} "
      f"cpu={(c1.user - c0.user) + (c1.system - c0.system):.3f} fired={fired}")
EOF

RES=$W/results.txt; : > "$RES"
perf_done=0

run_one() { # PAIR RUN
  local pair=$1 r=$2 d="$W/$1-$2" ipid="" rpid="" rkind ikind out="" win=$WINDOW
  mkdir -p "$d/i" "$d/r"
  local hub=tunnels cp=()
  case $pair in
    sw-sw|sw-sw-child|sw-pool) ikind=sw; rkind=sw ;;
    rvpn-rvpn|rvpn-rvpn-burst) ikind=rvpn; rkind=rvpn ;;
    rvpn-vt|rvpn-vt-none) ikind=rvpn; rkind=rvpn; hub=${pair#rvpn-}; cp=(--cp) ;;
    rvpn-sw) ikind=rvpn; rkind=sw ;;
    sw-rvpn) ikind=sw; rkind=rvpn ;;
    *) echo "unknown pair $pair" >&2; exit 2 ;;
  esac
  [ "$pair" = rvpn-rvpn-burst ] && win=0
  # responder
  if [ $rkind = sw ]; then
    swan_conf "$d/r"
    if [ $pair = sw-pool ]; then
      swan_hub "$d/r" pool
    elif [ $ikind = sw ]; then
      swan_lt "$d/r" $IP_R $IP_I swlr.test swll.test "$([ $pair = sw-sw-child ] && echo 1 || echo 0)"
    else
      swan_hub "$d/r"
    fi
    start_charon "$NR" "$d/r"; rpid=$LAST_PID
  else
    start_rvpnd "$NR" "$d/r" "$hub"; rpid=$LAST_PID
  fi
  # initiator daemon (strongSwan) or load generator (rvpn)
  if [ $ikind = sw ]; then
    swan_conf "$d/i"
    case $pair in
      sw-sw) swan_lt "$d/i" $IP_I $IP_R swll.test swlr.test 0 ;;
      sw-sw-child) swan_lt "$d/i" $IP_I $IP_R swll.test swlr.test 1 ;;
      sw-pool) swan_pool_spoke "$d/i" ;;
      sw-rvpn) swan_secret_only "$d/i" ;;
    esac
    start_charon "$NI" "$d/i"; ipid=$LAST_PID
  fi
  sleep 0.3
  local r0 i0 r1 i1 perf_pid="" rus0 rus1
  r0=$(cpu_of "$rpid"); i0=0; [ -n "$ipid" ] && i0=$(cpu_of "$ipid")
  rus0=$(cpu_us "$rpid")
  if [ $ikind = sw ]; then
    local mode=one child=""
    [ $pair = sw-sw-child ] || [ $pair = sw-pool ] && child=net
    [ $pair = sw-rvpn ] && { mode=many; child=net; }
    out=$(ip netns exec "$NI" python3 "$W/vici_driver.py" "$d/i/charon.vici" "$N" "$win" \
          $mode "$child" "$TIMEOUT" $IP_I $IP_R 2>"$d/driver.err" | grep '^RESULT' || true)
    i1=$(cpu_of "$ipid")
  else
    if [ "${PERF:-0}" = 1 ] && [ $perf_done = 0 ] && [ $rkind = rvpn ] && command -v perf >/dev/null; then
      perf record -F 499 --call-graph dwarf,16384 -o "$W/perf-rvpnd.data" -p "$rpid" >/dev/null 2>&1 & perf_pid=$!
      PIDS+=("$perf_pid")
    fi
    local pre=()
    [ -n "$perf_pid" ] && pre=(perf record -F 499 --call-graph dwarf,16384 -o "$W/perf-ikeload.data" --)
    out=$(ip netns exec "$NI" "${pre[@]}" "$IKELOAD" --responder $IP_R --local $IP_I -n "$N" \
          --window "$win" --psk "$PSK" --timeout "$TIMEOUT" --log "$d/ikeload.log" "${CERTARGS[@]}" "${cp[@]}" \
          2>"$d/driver.err" | grep '^RESULT' || true)
    i1=$(field cpu "$out"); i0=0
  fi
  r1=$(cpu_of "$rpid"); rus1=$(cpu_us "$rpid")
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null; wait "$perf_pid" 2>/dev/null || true; perf_done=1; fi
  local rest="" extra="" vas="-" stop="-"
  if [ $rkind = sw ]; then rest=$(swan_established "$d/r"); else rest=$(rvpnd_up "$d/r"); fi
  [ $pair = sw-pool ] && extra="hub pool leases online: $(swan_leases "$d/r")"
  if [ $hub != tunnels ]; then
    vas=$(va_links "$NR")
    extra="hub: $vas rvpn-va interfaces, $(ip -n "$NR" -4 route show | grep -c '^10\.200\.' || true) host routes to pool addresses"
  fi
  [ -n "$ipid" ] && stop_pid "$ipid"
  if [ $rkind = rvpn ]; then stop_rvpnd "$NR" "$rpid"; stop=$STOP_SECS; else stop_pid "$rpid"; fi
  if [ -z "$out" ] || [ "$(field ok "$out")" != 1 ]; then
    echo "!!! $pair run $r failed: ${out:-no result}"; sed 's/^/    /' "$d/driver.err" | tail -5
    [ $rkind = rvpn ] && { echo "    rvpnd log tail:"; tail -5 "$d/r/rvpnd.log" | sed 's/^/    /'; }
    FAILED=1
  fi
  local drv_cpu="-" icpu
  if [ $ikind = sw ]; then
    icpu=$(awk -v a="$i0" -v b="$i1" 'BEGIN { printf "%.2f", b - a }'); drv_cpu=$(field cpu "$out")
  else
    icpu=$(awk -v b="$i1" 'BEGIN { printf "%.2f", b }')
  fi
  local rcpu rusr rsys
  rcpu=$(awk -v a="$r0" -v b="$r1" 'BEGIN { printf "%.2f", b - a }')
  read -r rusr rsys < <(awk -v a="$rus0" -v b="$rus1" 'BEGIN { split(a, x, " "); split(b, y, " ")
    printf "%.2f %.2f\n", y[1] - x[1], y[2] - x[2] }')
  local secs rate
  secs=$(field secs "$out"); rate=$(field rate "$out")
  echo "$pair $r ${secs:-nan} ${rate:-0} $icpu $rcpu ${drv_cpu:-nan} ${rest:-0} $(field up "$out") $rusr $rsys $stop" >> "$RES"
  printf '  %-16s run %d: %5s SAs in %7.3f s = %7.1f SAs/s  (cpu: initiator %s s, responder %s s = %s user + %s sys, driver %s s; responder holds %s; stopped in %s s)\n' \
    "$pair" "$r" "$(field up "$out")" "${secs:-0}" "${rate:-0}" "$icpu" "$rcpu" "$rusr" "$rsys" "$drv_cpu" "${rest:-?}" "$stop"
  if [ -n "$extra" ]; then echo "    $extra"; fi
  if [ ${#cp[@]} -gt 0 ]; then
    echo "    ikeload: spokes given an address: $(field addressed "$out"), distinct: $(field distinct_addresses "$out")"
  fi
  if [ $ikind = rvpn ]; then
    echo "    ikeload: $(tr ' ' '\n' <<<"$out" | grep -E '^(sent|received|cookies|failed|lat_p50_ms|lat_p99_ms|set_config_ms|poll_timeout_ms|handle_datagram_ms|handle_timeout_ms)=' | tr '\n' ' ')"
  fi
}

FAILED=0
CERTARGS=(); [ "$AUTH" = ecdsa ] && CERTARGS=(--ca "$PKI/ca.pem" --certs "$PKI")
echo "=== IKE SA setup rate: N=$N WINDOW=$WINDOW RUNS=$RUNS AUTH=$AUTH pairs: $PAIRS"
echo "    machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -r)"
echo "    strongSwan $(dpkg-query -W -f='${Version}' strongswan-charon 2>/dev/null || echo '?'); rvpn $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?') ($PROFILE build); rvpnd RUST_LOG=$RVPN_LOG"
echo "    the initiator, the responder and the driver share these $(nproc) cores (no pinning)"
for r in $(seq "$RUNS"); do       # interleave pairs so drift hits all alike
  for p in $PAIRS; do run_one "$p" "$r"; done
done

echo
echo "=== medians of $RUNS run(s), N=$N, WINDOW=$WINDOW (rvpn-rvpn-burst: no window)"
awk -v pairs="$PAIRS" -v n="$N" '
  function med(s,   a, k, i, j, t) { k = split(s, a, " ")
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
  { S[$1] = S[$1] " " $3; R[$1] = R[$1] " " $4; I[$1] = I[$1] " " $5; P[$1] = P[$1] " " $6
    D[$1] = D[$1] " " ($7 == "-" ? "" : $7); H[$1] = H[$1] " " $8
    U[$1] = U[$1] " " $10; Y[$1] = Y[$1] " " $11; T[$1] = T[$1] " " ($12 == "-" ? "" : $12) }
  END {
    bn = ("sw-sw" in R) ? "sw-sw" : (("sw-sw-child" in R) ? "sw-sw-child" : "")
    base = (bn != "") ? med(R[bn]) : 0
    printf "%-16s %6s %9s %9s %9s %10s %10s %10s %9s %9s %9s %10s %7s\n", "pair (init-resp)", "N", "seconds", "SAs/s", "vs " (bn == "" ? "sw-sw" : bn), "init CPU s", "resp CPU s", "drv CPU s", "resp SAs", "resp usr", "resp sys", "resp ms/SA", "stop s"
    k = split(pairs, ps, " ")
    for (i = 1; i <= k; i++) { p = ps[i]; if (!(p in R)) continue
      rate = med(R[p]); d = D[p]; gsub(/ /, "", d)
      t = T[p]; gsub(/ /, "", t)
      printf "%-16s %6d %9.3f %9.1f %9s %10.2f %10.2f %10s %9d %9.2f %9.2f %10.2f %7s\n", p, n, med(S[p]), rate,
        (base > 0 ? sprintf("%.2fx", rate / base) : "-"), med(I[p]), med(P[p]),
        (d == "" ? "-" : sprintf("%.2f", med(D[p]))), med(H[p]), med(U[p]), med(Y[p]),
        med(P[p]) * 1000 / n, (t == "" ? "-" : sprintf("%.2f", med(T[p]))) }
  }' "$RES"
echo "(init CPU for rvpn initiators is ikeload itself; for strongSwan initiators it is charon, and"
echo " drv CPU is the python vici driver. Target (issue #3): rvpn-rvpn >= 2.5x sw-sw.)"
if [ -f "$W/perf-rvpnd.data" ]; then
  mkdir -p "$ROOT/target/bench-perf"
  cp "$W"/perf-*.data "$ROOT/target/bench-perf/" 2>/dev/null || true
  echo "perf data: $ROOT/target/bench-perf/perf-{rvpnd,ikeload}.data (perf report -i ...)"
fi
[ "$FAILED" = 0 ] || { echo "some runs failed"; exit 1; }
