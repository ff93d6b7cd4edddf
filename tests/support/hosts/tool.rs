//! The lab's traffic tool.

/// The traffic tool the lab runs on its hosts (python3, standard library).
pub const TOOL: &str = r#"#!/usr/bin/env python3
# rvpn data-plane lab traffic tool (written by tests/support/hosts/tool.rs).
# Every mode prints one JSON line at the end; servers print LISTENING first.
#   tcp-sink BIND PORT TIMEOUT
#   tcp-send DST PORT NBYTES SEED TIMEOUT [SRC]
#   udp-sink BIND PORT COUNT SEED TIMEOUT
#   udp-send DST PORT COUNT PPS SEED [SRC]
#   echo BIND PORT DURATION
#   probe DST PORT INTERVAL_MS DURATION [SRC]
import hashlib, json, random, select, socket, struct, sys, time

SIZES = (64, 200, 512, 1000, 1200, 1300)


def fam(a):
    return socket.AF_INET6 if ":" in a else socket.AF_INET


def emit(d):
    print(json.dumps(d), flush=True)


def listening():
    print("LISTENING", flush=True)


def chunks(seed, n):
    r = random.Random(seed)
    while n > 0:
        k = min(n, 65536)
        yield r.randbytes(k)
        n -= k


def datagram(seed, seq):
    size = SIZES[seq % len(SIZES)]
    body = random.Random(seed * 1000003 + seq).randbytes(size - 8)
    return struct.pack("!II", seq, size) + body


def tcp_sink(bind, port, timeout):
    s = socket.socket(fam(bind), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((bind, int(port)))
    s.listen(1)
    s.settimeout(float(timeout))
    listening()
    c, peer = s.accept()
    c.settimeout(float(timeout))
    h = hashlib.sha256()
    n = 0
    t0 = time.monotonic()
    while True:
        b = c.recv(1 << 18)
        if not b:
            break
        h.update(b)
        n += len(b)
    secs = time.monotonic() - t0
    mss = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
    c.close()
    emit({"bytes": n, "sha256": h.hexdigest(), "secs": round(secs, 3), "peer": peer[0], "mss": mss})


def tcp_send(dst, port, nbytes, seed, timeout, src=""):
    s = socket.socket(fam(dst), socket.SOCK_STREAM)
    s.settimeout(float(timeout))
    if src:
        s.bind((src, 0))
    s.connect((dst, int(port)))
    h = hashlib.sha256()
    n = 0
    t0 = time.monotonic()
    for b in chunks(int(seed), int(nbytes)):
        s.sendall(b)
        h.update(b)
        n += len(b)
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    secs = time.monotonic() - t0
    mss = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
    s.close()
    emit({"bytes": n, "sha256": h.hexdigest(), "secs": round(secs, 3), "mss": mss,
          "mbit_s": round(n * 8 / max(secs, 1e-6) / 1e6, 1)})


def udp_sink(bind, port, count, seed, timeout):
    count, seed = int(count), int(seed)
    s = socket.socket(fam(bind), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((bind, int(port)))
    listening()
    got = {}
    dups = corrupt = n = 0
    deadline = time.monotonic() + float(timeout)
    last = None
    while len(got) < count:
        now = time.monotonic()
        wait = deadline - now
        if last is not None:
            wait = min(wait, last + 3.0 - now)
        if wait <= 0:
            break
        r, _, _ = select.select([s], [], [], wait)
        if not r:
            continue
        b, _ = s.recvfrom(65536)
        n += 1
        last = time.monotonic()
        if len(b) < 8:
            corrupt += 1
            continue
        seq, _size = struct.unpack("!II", b[:8])
        if seq >= count or b != datagram(seed, seq):
            corrupt += 1
            continue
        if seq in got:
            dups += 1
            continue
        got[seq] = b
    h = hashlib.sha256()
    for q in sorted(got):
        h.update(got[q])
    missing = [q for q in range(count) if q not in got]
    emit({"received": n, "unique": len(got), "dups": dups, "corrupt": corrupt,
          "missing_count": len(missing), "missing": missing[:50],
          "bytes": sum(len(v) for v in got.values()), "sha256": h.hexdigest()})


def udp_send(dst, port, count, pps, seed, src=""):
    count, seed = int(count), int(seed)
    s = socket.socket(fam(dst), socket.SOCK_DGRAM)
    if src:
        s.bind((src, 0))
    h = hashlib.sha256()
    nbytes = errors = 0
    interval = 1.0 / float(pps)
    t0 = time.monotonic()
    for seq in range(count):
        d = t0 + seq * interval - time.monotonic()
        if d > 0:
            time.sleep(d)
        b = datagram(seed, seq)
        try:
            s.sendto(b, (dst, int(port)))
        except OSError:
            errors += 1
        h.update(b)
        nbytes += len(b)
    emit({"sent": count, "bytes": nbytes, "sha256": h.hexdigest(), "send_errors": errors,
          "secs": round(time.monotonic() - t0, 3)})


def echo(bind, port, duration):
    s = socket.socket(fam(bind), socket.SOCK_DGRAM)
    s.bind((bind, int(port)))
    listening()
    n = 0
    end = time.monotonic() + float(duration)
    while True:
        wait = end - time.monotonic()
        if wait <= 0:
            break
        r, _, _ = select.select([s], [], [], wait)
        if not r:
            continue
        b, peer = s.recvfrom(4096)
        if b == b"FIN":
            break
        n += 1
        s.sendto(b, peer)
    emit({"echoed": n})


def probe(dst, port, interval_ms, duration, src=""):
    s = socket.socket(fam(dst), socket.SOCK_DGRAM)
    if src:
        s.bind((src, 0))
    s.setblocking(False)
    addr = (dst, int(port))
    interval = float(interval_ms) / 1000.0
    total = int(float(duration) / interval)
    sent, rtt = {}, {}
    dups = errors = 0

    def drain():
        nonlocal dups
        while True:
            try:
                b = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            if len(b) < 4:
                continue
            q = struct.unpack("!I", b[:4])[0]
            if q in rtt:
                dups += 1
            elif q in sent:
                rtt[q] = time.monotonic() - sent[q]

    t0 = time.monotonic()
    seq = 0
    while seq < total:
        drain()
        now = time.monotonic()
        due = t0 + seq * interval
        if now >= due:
            try:
                s.sendto(struct.pack("!I", seq) + bytes(60), addr)
            except OSError:
                errors += 1
            sent[seq] = now
            seq += 1
            continue
        select.select([s], [], [], due - now)
    end = time.monotonic() + 2.0
    while len(rtt) < len(sent) and time.monotonic() < end:
        select.select([s], [], [], max(0.0, end - time.monotonic()))
        drain()
    for _ in range(3):
        try:
            s.sendto(b"FIN", addr)
        except OSError:
            pass
    lost = sorted(set(sent) - set(rtt))
    r = sorted(rtt.values())
    pct = lambda p: round(r[min(len(r) - 1, int(p * len(r)))] * 1000, 2) if r else None
    emit({"sent": len(sent), "received": len(rtt), "lost_count": len(lost),
          "lost": [[q, round(sent[q] - t0, 3)] for q in lost[:100]],
          "dups": dups, "send_errors": errors, "rtt_ms_p50": pct(0.5),
          "rtt_ms_p99": pct(0.99), "rtt_ms_max": round(r[-1] * 1000, 2) if r else None,
          "secs": round(time.monotonic() - t0, 3)})


MODES = {"tcp-sink": tcp_sink, "tcp-send": tcp_send, "udp-sink": udp_sink,
         "udp-send": udp_send, "echo": echo, "probe": probe}

if __name__ == "__main__":
    MODES[sys.argv[1]](*sys.argv[2:])
"#;
