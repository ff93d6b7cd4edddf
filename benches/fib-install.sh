#!/usr/bin/env bash
# benches/fib-install.sh - FIB install rate: IPv4 routes installed per
# second with 2-way ECMP, rvpn's FIB writer (rib::fib, both modes) next to
# `ip -batch` installing the same routes (both ways).
#
#   netns: fb1 169.254.11.2/30 --veth-- fb1p    next hop 169.254.11.1
#          fb2 169.254.12.2/30 --veth-- fb2p    next hop 169.254.12.1
#
# N distinct /24s from 32.0.0.0, each through both next hops, protocol 202:
#   ip-multipath    ip -batch: `route add P proto 202 nexthop via
#                   169.254.11.1 dev fb1 nexthop via 169.254.12.1 dev fb2`
#   ip-nhobj        ip -batch: `nexthop add id 1 via .. dev fb1`, `id 2 ..
#                   fb2`, `id 3 group 1/2`, then `route add P nhid 3 proto 202`
#   rvpn-nhobj      rib/examples/fib_bench.rs --mode nhobj: Fib::apply with
#                   one FibChange::Set per prefix (kernel nexthop objects,
#                   one group, routes with RTA_NH_ID; batched writes)
#   rvpn-multipath  fib_bench --mode multipath (RTA_MULTIPATH per route)
# Every method and run gets a fresh namespace. Time = wall time of the
# whole command (ip: reading and parsing its batch file; fib_bench:
# process start, building the N changes, the netlink probe, the writes);
# fib_bench also prints the time of Fib::apply alone ("apply" column).
# Afterwards `ip -o route show proto 202 | wc -l` in the namespace must be
# N (-o: one line per route, ECMP routes print their next hops on extra
# lines otherwise), or the run fails: nothing is counted that is not in
# the kernel. The table gives medians of RUNS runs, routes/s, and the
# ratio of each rvpn mode's rate to ip -batch's in the same form.
#
# Usage: benches/fib-install.sh [--smoke] [--runs N]
#   env: SIZES="100000 1000000" RUNS=3 PROFILE=release (--smoke: dev)
#        METHODS="ip-multipath ip-nhobj rvpn-nhobj rvpn-multipath"
#        NO_BUILD=1 (use what is built) KEEP=1 (keep the work dir)
#   --smoke: SIZES=2000, RUNS=1, dev build (what CI runs: proves the
#        script, both writer modes and the count check; exits non-zero on
#        any count mismatch or refused route).
# The build honours CARGO_TARGET_DIR (default target/).
# Needs (as root): iproute2 (with nexthop objects: Linux 5.3+), cargo.
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
  SIZES=${SIZES:-2000}; RUNS=${RUNS:-1}; PROFILE=${PROFILE:-dev}
fi
SIZES=${SIZES:-"100000 1000000"}
RUNS=${RUNS:-3}; PROFILE=${PROFILE:-release}
METHODS=${METHODS:-"ip-multipath ip-nhobj rvpn-nhobj rvpn-multipath"}
NS=fbi$$
W=$(mktemp -d /tmp/fib-install.XXXXXX)

[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
case $RUNS in ''|*[!0-9]*|0) echo "RUNS must be a positive number" >&2; exit 2 ;; esac
for s in $SIZES; do
  case $s in ''|*[!0-9]*|0) echo "bad size $s" >&2; exit 2 ;; esac
  [ "$s" -le 4000000 ] || { echo "$s: at most 4000000 prefixes (/24s from 32.0.0.0)" >&2; exit 2; }
done
for m in $METHODS; do
  case $m in ip-multipath|ip-nhobj|rvpn-nhobj|rvpn-multipath) ;;
    *) echo "unknown method $m" >&2; exit 2 ;; esac
done
for t in ip awk cargo; do command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 1; }; done

del_ns() { ip netns del "$NS" 2>/dev/null || true; }
cleanup() {
  set +e
  del_ns
  if [ "${KEEP:-0}" = 1 ]; then echo "work dir kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build
if [ "$PROFILE" = dev ]; then BDIR=debug; PFLAG=(); else BDIR=$PROFILE; PFLAG=(--profile "$PROFILE"); fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET
if [ "${NO_BUILD:-0}" != 1 ]; then
  echo "=== building fib_bench ($PROFILE) into $TARGET"
  cargo build -q "${PFLAG[@]}" -p rib --example fib_bench
fi
BENCH=$TARGET/$BDIR/examples/fib_bench
[ -x "$BENCH" ] || { echo "missing $BENCH" >&2; exit 1; }

make_ns() {
  del_ns
  ip netns add "$NS"
  ip -n "$NS" link set lo up
  local i
  for i in 1 2; do
    ip -n "$NS" link add "fb$i" type veth peer name "fb${i}p"
    ip -n "$NS" addr add "169.254.1$i.2/30" dev "fb$i"
    ip -n "$NS" link set "fb$i" up
    ip -n "$NS" link set "fb${i}p" up
  done
}

# Batch files for ip, per size.
gen() { # N FORM
  awk -v n="$1" -v form="$2" 'BEGIN {
    if (form == "nhobj") {
      print "nexthop add id 1 via 169.254.11.1 dev fb1"
      print "nexthop add id 2 via 169.254.12.1 dev fb2"
      print "nexthop add id 3 group 1/2"
    }
    for (i = 0; i < n; i++) {
      a = 32 * 65536 + i                      # the /24 number
      p = int(a / 65536) "." int(a / 256) % 256 "." a % 256 ".0/24"
      if (form == "nhobj") print "route add " p " nhid 3 proto 202"
      else print "route add " p " proto 202 nexthop via 169.254.11.1 dev fb1 nexthop via 169.254.12.1 dev fb2"
    }
  }' > "$W/$2-$1.batch"
}

now_ns() { date +%s%N; }
RES=$W/results.txt; : > "$RES"
FAILED=0
run_one() { # METHOD N RUN
  local m=$1 n=$2 run=$3 t0 t1 out count secs apply="-" rc=0
  make_ns
  case $m in
    ip-*)
      local f="$W/${m#ip-}-$n.batch"
      t0=$(now_ns)
      ip -n "$NS" -batch "$f" > "$W/out" 2>&1 || rc=$?
      t1=$(now_ns) ;;
    rvpn-*)
      t0=$(now_ns)
      ip netns exec "$NS" "$BENCH" --prefixes "$n" --ecmp 2 --mode "${m#rvpn-}" \
        --nexthop 169.254.11.1@fb1 --nexthop 169.254.12.1@fb2 > "$W/out" 2>&1 || rc=$?
      t1=$(now_ns)
      apply=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^apply_ms=/) { sub(/apply_ms=/, "", $i); printf "%.3f", $i / 1000 } }' "$W/out") ;;
  esac
  count=$(ip -n "$NS" -o route show proto 202 | wc -l)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  if [ "$rc" != 0 ] || [ "$count" != "$n" ]; then
    printf '  %-15s %8d run %d: FAIL (exit %s, %s of %d routes in the kernel)\n' "$m" "$n" "$run" "$rc" "$count" "$n"
    sed 's/^/    /' "$W/out" | tail -8
    echo "$m $n $run FAIL -" >> "$RES"; FAILED=1
  else
    printf '  %-15s %8d run %d: %7.3f s  %9.0f routes/s  (apply %s s; %d routes in the kernel)\n' \
      "$m" "$n" "$run" "$secs" "$(awk -v n="$n" -v s="$secs" 'BEGIN { print n / s }')" "${apply:--}" "$count"
    echo "$m $n $run $secs ${apply:--}" >> "$RES"
  fi
  del_ns
}

echo "=== FIB install: $SIZES prefixes, 2-way ECMP; methods: $METHODS; RUNS=$RUNS"
echo "    machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -r), $(ip -V)"
echo "    rvpn $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?') ($PROFILE build)"
for n in $SIZES; do
  gen "$n" multipath; gen "$n" nhobj
  for run in $(seq "$RUNS"); do        # interleave so drift hits all alike
    for m in $METHODS; do run_one "$m" "$n" "$run"; done
  done
  rm -f "$W"/*-"$n".batch
done

echo
echo "=== medians of $RUNS run(s): wall seconds of the whole command"
echo
awk -v meths="$METHODS" -v sizes="$SIZES" -v runs="$RUNS" '
  function med(s,   a, k, i, j, t) { k = split(s, a, " ")
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
  { key = $1 " " $2; if ($4 == "FAIL") { F[key]++; next } T[key] = T[key] " " $4; if ($5 != "-") A[key] = A[key] " " $5 }
  END {
    print "| method | prefixes | seconds | routes/s | vs ip -batch (same form) | apply s | apply routes/s |"
    print "|---|---|---|---|---|---|---|"
    nm = split(meths, ms, " "); ns = split(sizes, ss, " ")
    for (j = 1; j <= ns; j++) for (i = 1; i <= nm; i++) {
      m = ms[i]; n = ss[j]; key = m " " n
      if (!(key in T)) { printf "| %s | %d | FAIL | - | - | - | - |\n", m, n; continue }
      t = med(T[key]); r = n / t
      note = (key in F) ? sprintf(" (%d of %d runs FAILED)", F[key], runs) : ""
      ref = m; sub(/^rvpn-/, "ip-", ref); ref = ref " " n
      ratio = (m ~ /^rvpn-/ && (ref in T)) ? sprintf("%.2fx", r / (n / med(T[ref]))) : "-"
      ap = (key in A) ? med(A[key]) : 0
      printf "| %s | %d | %.3f%s | %.0f | %s | %s | %s |\n", m, n, t, note, r, ratio,
        (ap > 0 ? sprintf("%.3f", ap) : "-"), (ap > 0 ? sprintf("%.0f", n / ap) : "-")
    }
  }' "$RES"
echo
echo "(ratio: the rvpn mode's routes/s over ip -batch's in the same form: nhobj vs ip-nhobj,"
echo " multipath vs ip-multipath; higher is faster. Target: rvpn at least 150,000 routes/s.)"
[ "$FAILED" = 0 ] || { echo "some runs failed"; exit 1; }
[ "$SMOKE" = 1 ] && echo "smoke: ok"
exit 0
