# benches/lib.sh - sourced by the bench scripts: what they share.

# bench_stop_all TENTHS: SIGTERM to every pid in PIDS, then SIGKILL to
# each one still alive TENTHS tenths of a second later.
bench_stop_all() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq "$1"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
}

# bench_remove_workdir: removes the work dir $W, or says where it stays
# (KEEP=1).
bench_remove_workdir() {
  if [ "${KEEP:-0}" = 1 ]; then echo "work dir kept: $W"; else rm -rf "$W"; fi
}

# swan_secrets ID_A ID_B: a swanctl `secrets` section with the PSK $PSK
# between the two identities.
swan_secrets() {
  cat <<EOS
secrets {
  ike-lt {
    id-a = $1
    id-b = $2
    secret = $PSK
  }
}
EOS
}
