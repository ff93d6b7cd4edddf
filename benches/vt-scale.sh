#!/usr/bin/env bash
# benches/vt-scale.sh - a FlexVPN Virtual-Template hub with many spokes
# (issue 16 point 4): one rvpnd hub (one `interface Virtual-Template1 type
# tunnel`, an `ip local pool`, DPD), N spokes from ikeload --cp
# (rvpn's IKE engine, one identity spoke<i>.bench each, each asking for
# an address). Per run it records:
#   - the time until all N spokes are up (IKE SA + Child SA + address);
#   - the hub's RSS growth per spoke ((RSS with N up - RSS at start) / N);
#   - the kernel's memory per Virtual-Access (the rvpn-vaN TUNs): the
#     growth of /proc/meminfo SUnreclaim (the unreclaimable slab, where
#     net devices and their queues live; and of used memory, MemTotal -
#     MemAvailable) from before the hub started to all N up, per spoke.
#     System-wide figures: other processes on the machine add noise;
#     compare with DATAPLANE=none (no interfaces) for the part that is
#     the interfaces';
#   - the hub's CPU while idle with N spokes and DPD every DPD seconds
#     (utime+stime over IDLE seconds, as % of one core; the spokes answer
#     every DPD probe, and a spoke lost to DPD fails the run);
#   - the time the hub takes to stop and delete its N interfaces.
# With BGP=1 (the default) every spoke also runs a BGP session to the hub
# over its tunnel and announces one prefix: ikeload --tun carries the
# spokes' packets through their Child SAs (one TUN device, ESP by the
# spoke's pool address), and examples/bgp_inject.rs opens N sessions, one
# from each pool address, to the hub's loopback (`bgp listen range`, hold
# 9 s, keepalives every 3 s). The run then also records the time until
# all N sessions are Established and the hub holds N spoke prefixes, and
# the idle CPU includes the keepalives.
#
# Usage: benches/vt-scale.sh
#   env: N=10000 WINDOW=64 RUNS=1 DPD=10 DPD_MODE=on-demand|periodic
#        IDLE=30 TIMEOUT=900
#        DATAPLANE=userspace|none (rvpnd --dataplane)  RVPN_LOG=warn
#        BGP=1|0  BGP_TIMEOUT=600 (for all sessions to come up)
#        RESTART=term|kill|none (with BGP=1, after the idle period: the hub
#        is restarted, by SIGTERM or as a crash (kill -9, the spokes then
#        run DPD every DPD s), and the time until every spoke's
#        Virtual-Access and BGP session are back is recorded)
#        RESTART_TIMEOUT=600  PAUSE=secs (before the restart, to look at
#        the hub as the flapping left it)
#        FLAP=1000 FLAP_PERIOD=10 FLAP_TIME=60 (with BGP=1, after the idle
#        period: one spoke that does not flap pings the hub's loopback every
#        10 ms for FLAP_TIME s, first with nothing else going on, then while
#        FLAP other spokes go down and up again every FLAP_PERIOD s (half
#        down, half up: Delete, Virtual-Access, host route and BGP session
#        gone, then all set up again); FLAP=0 skips it)
#        NOFILE=65536 (the open-file limit set for rvpnd: the userspace
#        data plane holds a descriptor per TUN, so N spokes need more than
#        N; the default soft limit, often 1024, stops it at that many)
#        NS_PREFIX=vs  NO_BUILD=1  KEEP=1 (keep the work dir)
# Needs root, iproute2, cargo; builds rvpnd, vtysh and ikeload (release)
# unless NO_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
for a in "$@"; do
  case $a in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $a (try --help)" >&2; exit 2 ;;
  esac
done
N=${N:-10000}; WINDOW=${WINDOW:-64}; RUNS=${RUNS:-1}; DPD=${DPD:-10}; IDLE=${IDLE:-30}
TIMEOUT=${TIMEOUT:-900}; DATAPLANE=${DATAPLANE:-userspace}; RVPN_LOG=${RVPN_LOG:-warn}
NOFILE=${NOFILE:-65536}; NS_PREFIX=${NS_PREFIX:-vs}; BGP=${BGP:-1}; BGP_TIMEOUT=${BGP_TIMEOUT:-600}
RESTART=${RESTART:-term}; RESTART_TIMEOUT=${RESTART_TIMEOUT:-600}
FLAP=${FLAP:-1000}; FLAP_PERIOD=${FLAP_PERIOD:-10}; FLAP_TIME=${FLAP_TIME:-60}
[ "$FLAP" -lt "$N" ] || FLAP=$((N - 1))
[ "$DATAPLANE" = none ] && BGP=0
PSK=bench-only-psk-0123456789
NI=$NS_PREFIX$$i; NR=$NS_PREFIX$$r
IP_I=10.98.0.1; IP_R=10.98.0.2
W=$(mktemp -d /tmp/vt-scale.XXXXXX)
CLK_TCK=$(getconf CLK_TCK)
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
[ "$N" -ge 1 ] && [ "$N" -le 1000000 ] || { echo "N must be 1..1000000" >&2; exit 2; }
source "$ROOT/benches/vt-hub-conf.sh"
source "$ROOT/benches/lib.sh"

PIDS=()
cleanup() {
  set +e
  bench_stop_all 100
  ip netns del "$NI" 2>/dev/null; ip netns del "$NR" 2>/dev/null
  bench_remove_workdir
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET
if [ "${NO_BUILD:-0}" != 1 ]; then
  echo "=== building (release) into $TARGET"
  cargo build -q --release -p rvpnd --bin rvpnd -p vtysh --bin vtysh --example bgp_inject
  cargo build -q --release --manifest-path benches/ikeload/Cargo.toml
fi
RVPND=$TARGET/release/rvpnd; VTYSH=$TARGET/release/vtysh; IKELOAD=$TARGET/release/ikeload
INJECT=$TARGET/release/examples/bgp_inject
for b in "$RVPND" "$VTYSH" "$IKELOAD" $([ "$BGP" = 1 ] && echo "$INJECT"); do [ -x "$b" ] || { echo "missing $b" >&2; exit 1; }; done

# The open-file limit (raising the hard limit needs root).
ulimit -Hn "$NOFILE" 2>/dev/null || true
ulimit -Sn "$NOFILE" 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"
[ "$(ulimit -Sn)" -gt $((N + 256)) ] ||
  echo "warning: open-file limit $(ulimit -Sn) is below N + 256: rvpnd will run out of descriptors"

ip netns add "$NI"; ip netns add "$NR"
ip link add vsc-i netns "$NI" type veth peer name vsc-r netns "$NR"
ip -n "$NI" addr add $IP_I/24 dev vsc-i; ip -n "$NR" addr add $IP_R/24 dev vsc-r
for n in "$NI" "$NR"; do ip -n "$n" link set lo up; done
ip -n "$NI" link set vsc-i up; ip -n "$NR" link set vsc-r up

# start_hub DIR: rvpnd with DIR/rvpnd.conf (log appended), $hub its pid,
# returning once it answers on its socket.
start_hub() {
  ip netns exec "$NR" env RUST_LOG="$RVPN_LOG" "$RVPND" -f "$1/rvpnd.conf" --socket "$1/rvpnd.sock" \
    --dataplane "$DATAPLANE" >> "$1/rvpnd.log" 2>&1 &
  hub=$!; PIDS+=("$hub")
  for _ in $(seq 200); do
    "$VTYSH" --socket "$1/rvpnd.sock" -c "show running-config" 2>/dev/null |
      grep -q '^interface Virtual-Template1' && break
    sleep 0.1
  done
}
# bgp_counts DIR: "established prefixes" as the hub's summary says.
bgp_counts() {
  "$VTYSH" --socket "$1/rvpnd.sock" -c "show ip bgp summary json" 2>/dev/null | python3 -c '
import json,sys
try: d=json.load(sys.stdin)["ipv4Unicast"]
except Exception: print(0, 0); sys.exit()
ps=d.get("peers",{}).values()
print(sum(1 for p in ps if p.get("state")=="Established"), sum(p.get("pfxRcd",0) for p in ps))'
}
# gone PID: waits (up to 120 s) until the process has exited.
gone() {
  local st
  for _ in $(seq 1200); do
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1 || true)
    { [ -z "$st" ] || [ "$st" = Z ]; } && break; sleep 0.1
  done
  wait "$1" 2>/dev/null || true
}
cpu_of() { awk -v hz="$CLK_TCK" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
mem_kb() { awk -v k="$1" '$1 == k ":" { print $2 }' /proc/meminfo; }
# CPU seconds of each thread of $1, summed by thread name: "name secs" lines.
threads_cpu() {
  local f
  for f in /proc/"$1"/task/*/stat; do sed 's/^[0-9]* (\(.*\)) /\1 /' "$f" 2>/dev/null; done |
    awk -v hz="$CLK_TCK" '{ gsub(/[0-9]+$/, "", $1); c[$1] += ($13 + $14) / hz } END { for (n in c) printf "%s %.3f\n", n, c[n] }'
}
used_kb() { echo $(($(mem_kb MemTotal) - $(mem_kb MemAvailable))); }
links() { ip -n "$NR" -o link show 2>/dev/null | grep -c ': rvpn-va' || true; }
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -1; }
now() { date +%s.%N; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

RES=$W/results.txt; : > "$RES"
echo "=== Virtual-Template hub scale: N=$N WINDOW=$WINDOW DPD=$DPD s ${DPD_MODE:-on-demand} IDLE=$IDLE s DATAPLANE=$DATAPLANE BGP=$BGP RUNS=$RUNS"
echo "    machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg); rvpn $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'); open files $(ulimit -Sn)"
FAILED=0
for r in $(seq "$RUNS"); do
  d=$W/run$r; mkdir -p "$d"
  vt_hub_conf "$N" "$IP_R" "$PSK" "$DPD" "$BGP" > "$d/rvpnd.conf"
  slab0=$(mem_kb SUnreclaim); used0=$(used_kb)
  start_hub "$d"
  sleep 1
  rss0=$(rss_kb "$hub"); c0=$(cpu_of "$hub")
  # The spokes: up, then held (answering DPD) for the idle measurement.
  hold=$((IDLE + 5)); tunarg=()
  if [ "$BGP" = 1 ]; then hold=$((IDLE + BGP_TIMEOUT + RESTART_TIMEOUT + 60)); tunarg=(--tun ikl0); fi
  [ "$RESTART" = kill ] && tunarg+=(--dpd "$DPD")
  [ "$BGP" = 1 ] && [ "$FLAP" -gt 0 ] && tunarg+=(--flap-count "$FLAP" --flap-period "$FLAP_PERIOD")
  hold=$((hold + 3 * FLAP_TIME))
  ip netns exec "$NI" "$IKELOAD" --responder $IP_R --local $IP_I -n "$N" --window "$WINDOW" \
    --psk "$PSK" --timeout "$TIMEOUT" --cp --hold "$hold" --log "$d/ikeload.log" "${tunarg[@]}" \
    > "$d/ikeload.out" 2> "$d/ikeload.err" &
  ik=$!; PIDS+=("$ik")
  t0=$(now)
  if [ "$BGP" = 1 ]; then
    # The spokes' side: the TUN ikeload opened carries what is routed to
    # the hub's loopback, and the whole pool is local (each BGP session
    # binds its spoke's address).
    for _ in $(seq 100); do ip -n "$NI" link show ikl0 >/dev/null 2>&1 && break; sleep 0.05; done
    ip -n "$NI" link set ikl0 up txqueuelen 10000
    ip -n "$NI" route add 10.199.0.1/32 dev ikl0
    ip -n "$NI" route add local 10.200.0.0/14 dev lo
  fi
  while ! grep -q '^UP ' "$d/ikeload.out"; do
    kill -0 "$ik" 2>/dev/null || break
    kill -0 "$hub" 2>/dev/null || { echo "rvpnd died:"; tail -5 "$d/rvpnd.log"; break; }
    sleep 0.2
  done
  up_line=$(grep '^UP ' "$d/ikeload.out" || true)
  secs=$(field secs "$up_line"); nup=$(field up "$up_line")
  c1=$(cpu_of "$hub"); bgp_secs=nan; bgp_up=0; bgp_pfx=0
  if [ "$BGP" = 1 ] && [ "${nup:-0}" -gt 0 ]; then
    # One session per spoke that is up, from its pool address.
    ip netns exec "$NI" "$INJECT" --peer 10.199.0.1 --local-as 65100 --peer-as 65000 \
      --router-id 10.200.0.1 --sessions "$nup" --source 10.200.0.1 --count 1 \
      --base 172.16.0.0 --prefix-len 24 --hold 9 --connect-timeout "$BGP_TIMEOUT" --reconnect \
      > "$d/inject.out" 2> "$d/inject.err" &
    inj=$!; PIDS+=("$inj")
    deadline=$(($(date +%s) + BGP_TIMEOUT))
    while [ "$(date +%s)" -lt "$deadline" ]; do
      kill -0 "$inj" 2>/dev/null || { echo "bgp_inject exited:"; tail -3 "$d/inject.err"; break; }
      read -r bgp_up bgp_pfx < <(bgp_counts "$d")
      if [ "$bgp_up" -ge "$nup" ] && [ "$bgp_pfx" -ge "$nup" ]; then bgp_secs=$(minus "$(now)" "$t0"); break; fi
      sleep 1
    done
    ends=$(grep -c '"error"' "$d/inject.err" || true)
    echo "    BGP: $bgp_up sessions Established, $bgp_pfx spoke prefixes at the hub, ${bgp_secs} s after the first spoke started; $ends session(s) ended and were connected again (by cause: $(grep -o '"error":"[^"]*' "$d/inject.err" | sed 's/"error":"//; s/ data.*//' | sort | uniq -c | sort -rn | head -3 | awk '{ $1 = $1 "x"; print }' | paste -sd ';' -))"
  fi
  # Let the last Virtual-Access interfaces and routes settle.
  for _ in $(seq 100); do [ "$(links)" -ge "${nup:-0}" ] && break; sleep 0.1; done
  sleep 2
  rss1=$(rss_kb "$hub"); slab1=$(mem_kb SUnreclaim); used1=$(used_kb); nl=$(links)
  routes=$(ip -n "$NR" -4 route show | grep -c '^10\.2[0-9][0-9]\.' || true)
  fds=$(ls "/proc/$hub/fd" | wc -l)
  # Idle: DPD every $DPD s to each of N spokes (on demand: to those not
  # heard from, IKE or ESP, for $DPD s).
  # The hub namespace's TCP segments each way (BGP inside the tunnels:
  # keepalives and acknowledgements), from /proc/net/snmp.
  snmp() {
    ip netns exec "$NR" cat /proc/net/snmp | awk '
      $1 == "Tcp:" && $2 ~ /^[0-9]/ { ti = $11; to = $12 }
      END { print ti, to }'
  }
  read -r tin0 tout0 < <(snmp)
  i0=$(cpu_of "$hub"); ti0=$(now); thr0=$(threads_cpu "$hub")
  sleep "$IDLE"
  i1=$(cpu_of "$hub"); ti1=$(now); thr1=$(threads_cpu "$hub")
  read -r tin1 tout1 < <(snmp)
  pps() { awk -v a="$1" -v b="$2" -v t="$(minus "$ti1" "$ti0")" 'BEGIN { printf "%.0f", (b - a) / t }'; }
  idle_pct=$(awk -v a="$i0" -v b="$i1" -v t="$(minus "$ti1" "$ti0")" 'BEGIN { printf "%.1f", (b - a) * 100 / t }')
  if [ "$BGP" = 1 ]; then
    read -r bgp_after _ < <(bgp_counts "$d")
    echo "    after the idle period: $bgp_after BGP sessions Established; sessions ended in all: $(grep -c '"error"' "$d/inject.err" || true)"
    [ "$bgp_after" -ge "${nup:-0}" ] || bgp_up=0
    lost=$((${nup:-0} - $(links)))
    if [ "$FLAP" -gt 0 ]; then
      # The last spoke does not flap; its pool address is local on the
      # spokes' side, so ping leaves from it through its Child SA.
      src=$(sed -n 's/^UP .*last_addr=\([0-9.]*\).*/\1/p' "$d/ikeload.out")
      ping_stats() {
        ip netns exec "$NI" ping -q -n -I "$src" -i 0.01 -W 1 -c $((FLAP_TIME * 100)) 10.199.0.1 2>&1 |
          awk '/packet loss/ { for (i = 1; i <= NF; i++) if ($i ~ /%$/) l = $i }
               /^rtt/ { split($4, r, "/"); m = r[3] }
               END { printf "%s loss, rtt max %s ms", l, m }'
      }
      calm=$(ping_stats)
      kill -USR1 "$ik"; f0=$(cpu_of "$hub"); tf0=$(now)
      busy=$(ping_stats)
      f1=$(cpu_of "$hub"); tf1=$(now); kill -USR1 "$ik"
      cycles=$(grep -c '^FLAP .*down=true' "$d/ikeload.out" || true)
      flap_cpu=$(awk -v a="$f0" -v b="$f1" -v t="$(minus "$tf1" "$tf0")" 'BEGIN { printf "%.1f", (b - a) * 100 / t }')
      echo "    flap: spoke $src pings the hub's loopback every 10 ms for $FLAP_TIME s: alone $calm; while $FLAP other spokes flap ($cycles down/up cycles of $FLAP_PERIOD s) $busy; hub CPU $flap_cpu %"
      # All back before what comes next.
      deadline=$(($(date +%s) + RESTART_TIMEOUT))
      while [ "$(date +%s)" -lt "$deadline" ]; do
        read -r b p < <(bgp_counts "$d")
        [ "$(links)" -ge "$nup" ] && [ "$b" -ge "$nup" ] && [ "$p" -ge "$nup" ] && break
        sleep 1
      done
      echo "    after the flapping: $(links) Virtual-Access, $b sessions, $p prefixes"
    fi
    if [ "$RESTART" != none ]; then
      # The hub restarts (SIGTERM: it deletes its SAs and closes its
      # sessions; kill: a crash the spokes notice by DPD); the spokes set
      # their tunnels up again and their sessions connect again.
      sig=TERM; [ "$RESTART" = kill ] && sig=KILL
      if [ -n "${PAUSE:-}" ]; then
        echo "    pausing $PAUSE s before the restart (hub pid $hub)"; sleep "$PAUSE"
      fi
      tr=$(now); kill -$sig "$hub"; gone "$hub"
      for _ in $(seq 100); do [ "$(links)" = 0 ] && break; sleep 0.1; done
      start_hub "$d"; ts=$(minus "$(now)" "$tr")
      ike_re=nan; bgp_re=nan; deadline=$(($(date +%s) + RESTART_TIMEOUT))
      while [ "$(date +%s)" -lt "$deadline" ]; do
        if [ "$ike_re" = nan ] && [ "$(links)" -ge "$nup" ]; then ike_re=$(minus "$(now)" "$tr"); fi
        read -r b p < <(bgp_counts "$d")
        if [ "$b" -ge "$nup" ] && [ "$p" -ge "$nup" ]; then bgp_re=$(minus "$(now)" "$tr"); break; fi
        sleep 1
      done
      [ "$ike_re" = nan ] && [ "$(links)" -ge "$nup" ] && ike_re=$bgp_re
      echo "    hub restart (SIG$sig): new hub answering after $ts s; all $nup Virtual-Access back after $ike_re s, all sessions Established with $nup prefixes after $bgp_re s (${b:-0} sessions, ${p:-0} prefixes)"
      [ "$bgp_re" != nan ] || bgp_up=0
    fi
    kill "$inj" 2>/dev/null; kill "$ik" 2>/dev/null
  fi
  wait "$ik" || true
  res=$(grep '^RESULT' "$d/ikeload.out" || true)
  [ "$BGP" = 1 ] || lost=$(field down_after_up "$res")
  # Stop: SIGTERM, wait for the process and its interfaces to be gone.
  ts=$(now); kill "$hub"; gone "$hub"
  for _ in $(seq 1200); do [ "$(links)" = 0 ] && break; sleep 0.1; done
  stop=$(minus "$(now)" "$ts"); left=$(links)
  rss_per=$(awk -v a="$rss0" -v b="$rss1" -v n="${nup:-1}" 'BEGIN { printf "%.1f", (b - a) / (n > 0 ? n : 1) }')
  slab_per=$(awk -v a="$slab0" -v b="$slab1" -v n="${nup:-1}" 'BEGIN { printf "%.1f", (b - a) / (n > 0 ? n : 1) }')
  used_per=$(awk -v a="$used0" -v b="$used1" -v n="${nup:-1}" 'BEGIN { printf "%.1f", (b - a) / (n > 0 ? n : 1) }')
  setup_cpu=$(minus "$c1" "$c0")
  echo "  run $r: ${nup:-0}/$N up in ${secs:-nan} s ($(awk -v n="${nup:-0}" -v s="${secs:-0}" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }') SAs/s; hub CPU $setup_cpu s)"
  echo "    hub: $nl rvpn-va interfaces, $routes pool host routes, $fds descriptors; RSS $((rss0 / 1024)) -> $((rss1 / 1024)) MiB = $rss_per KiB/spoke"
  echo "    kernel: SUnreclaim +$(((slab1 - slab0) / 1024)) MiB = $slab_per KiB/spoke; used memory +$(((used1 - used0) / 1024)) MiB = $used_per KiB/spoke (hub RSS included)"
  echo "    idle with DPD every $DPD s (${DPD_MODE:-on-demand}): hub CPU $idle_pct % of a core over $IDLE s; spokes lost while held: ${lost:-?}"
  echo "    idle traffic at the hub, per second: TCP segments in $(pps "$tin0" "$tin1"), out $(pps "$tout0" "$tout1")"
  echo "    idle CPU by thread: $(join -a1 <(sort <<<"$thr1") <(sort <<<"$thr0") | awk -v t="$IDLE" '{ printf "%s %.1f%%, ", $1, ($2 - ($3 + 0)) * 100 / t }' | sed 's/, $//')"
  echo "    stop: $stop s until rvpnd exited and its interfaces were gone ($left left)"
  echo "$r ${secs:-nan} ${nup:-0} $rss_per $slab_per $used_per $idle_pct $stop $setup_cpu $bgp_secs" >> "$RES"
  if [ "${nup:-0}" != "$N" ] || [ "${lost:-1}" != 0 ] || [ "$left" != 0 ] ||
     { [ "$BGP" = 1 ] && [ "$bgp_up" -lt "$N" ]; }; then
    echo "!!! run $r failed (up ${nup:-0}, lost ${lost:-?}, interfaces left $left)"
    tail -n 3 "$d/ikeload.err" "$d/rvpnd.log" | sed 's/^/    /'
    FAILED=1
  fi
done
echo
echo "=== medians of $RUNS run(s), N=$N, DATAPLANE=$DATAPLANE"
awk '
  function med(s,   a, k, i, j, t) { k = split(s, a, " ")
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
  { for (f = 2; f <= 10; f++) V[f] = V[f] " " $f }
  END { printf "%9s %9s %8s %12s %13s %13s %10s %7s %9s %9s\n", "up s", "SAs/s", "up", "RSS KiB/sp", "SUnrecl KiB/sp", "used KiB/sp", "idle %CPU", "stop s", "setup CPU", "BGP up s"
        printf "%9.2f %9.1f %8d %12.1f %13.1f %13.1f %10.1f %7.2f %9.2f %9s\n", med(V[2]), med(V[3]) / med(V[2]), med(V[3]), med(V[4]), med(V[5]), med(V[6]), med(V[7]), med(V[8]), med(V[9]), med(V[10]) }' "$RES"
[ "$FAILED" = 0 ] || { echo "some runs failed"; exit 1; }
