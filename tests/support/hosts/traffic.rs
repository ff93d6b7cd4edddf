//! Traffic between the lab's hosts: pings, and the [`super::TOOL`]'s TCP
//! and UDP transfers and probe streams, with their reports.

use super::super::{output_text, run_timeout, unique, wait_for, Proc};
use super::{DpLab, Side};
use serde_json::Value;
use std::fs;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

impl DpLab {
    fn tool(&self) -> String {
        self.tools.join("dpe.py").to_string_lossy().into_owned()
    }

    fn tool_log(&self, what: &str) -> PathBuf {
        self.tools.join(&format!("{what}-{}.log", unique()))
    }

    /// `ping -c COUNT -i 0.2 -W 1` from one host to the other.
    pub fn ping(&self, from: Side, v6: bool, count: u32) -> Output {
        self.host(from)
            .ping(from.host(v6), from.other().host(v6), count)
    }

    /// Panic unless every one of `count` pings is answered.
    pub fn ping_ok(&self, from: Side, v6: bool, count: u32) {
        let o = self.ping(from, v6, count);
        let text = output_text(&o);
        assert!(
            o.status.success() && text.contains(" 0% packet loss"),
            "ping {} -> {} lost packets:\n{text}",
            from.host(v6),
            from.other().host(v6)
        );
    }

    /// Start a tool server on `side`'s host and wait until it listens.
    fn server(&self, side: Side, args: &[&str]) -> (Proc, PathBuf) {
        let log = self.tool_log(args[0]);
        let tool = self.tool();
        let mut argv = vec!["python3", "-u", tool.as_str()];
        argv.extend_from_slice(args);
        let mut p = self.host(side).spawn(&argv, &log);
        let ok = wait_for(
            || {
                p.exited().is_some()
                    || fs::read_to_string(&log)
                        .unwrap_or_default()
                        .contains("LISTENING")
            },
            Duration::from_secs(10),
        );
        assert!(
            ok && p.exited().is_none(),
            "{args:?} on host {side:?} did not start:\n{}",
            fs::read_to_string(&log).unwrap_or_default()
        );
        (p, log)
    }

    /// Run a tool client on `side`'s host (bounded by `timeout`): its
    /// JSON result or what went wrong.
    fn client(&self, side: Side, args: &[&str], timeout: Duration) -> Result<Value, String> {
        let tool = self.tool();
        let mut argv = vec!["python3", "-u", tool.as_str()];
        argv.extend_from_slice(args);
        let o = run_timeout(&mut self.host(side).command(&argv), timeout);
        let text = output_text(&o);
        match last_json(&String::from_utf8_lossy(&o.stdout)) {
            Some(v) if o.status.success() => Ok(v),
            _ => Err(format!(
                "{args:?} on host {side:?} failed ({}):\n{text}",
                o.status
            )),
        }
    }

    /// Wait for a tool server to finish (bounded): its JSON result.
    fn server_result(
        &self,
        mut p: Proc,
        log: &std::path::Path,
        timeout: Duration,
    ) -> Result<Value, String> {
        let st = p.wait(timeout);
        let text = fs::read_to_string(log).unwrap_or_default();
        match (st, last_json(&text)) {
            (Some(s), Some(v)) if s.success() => Ok(v),
            _ => {
                p.kill();
                Err(format!(
                    "server {} ended with {st:?}:\n{text}",
                    log.display()
                ))
            }
        }
    }

    /// Send `bytes` deterministic pseudo-random bytes (from `seed`) over
    /// TCP from `from`'s host to the other host. Ok with (sender's,
    /// receiver's) reports: `bytes`, `sha256`, `secs`, `mss`.
    pub fn tcp_transfer(
        &self,
        from: Side,
        v6: bool,
        bytes: usize,
        seed: u64,
    ) -> Result<(Value, Value), String> {
        let to = from.other();
        let (p, log) = self.server(to, &["tcp-sink", to.host(v6), "5201", "60"]);
        let sent = self.client(
            from,
            &[
                "tcp-send",
                to.host(v6),
                "5201",
                &bytes.to_string(),
                &seed.to_string(),
                "60",
                from.host(v6),
            ],
            Duration::from_secs(90),
        );
        let got = self.server_result(p, &log, Duration::from_secs(10));
        match (sent, got) {
            (Ok(s), Ok(g)) => Ok((s, g)),
            (s, g) => Err(format!("sender: {s:?}\nreceiver: {g:?}")),
        }
    }

    /// Send `count` numbered UDP datagrams (64 to 1300 bytes, content
    /// derived from `seed` and the number) at `pps` from `from`'s host to
    /// the other host. Ok with (sender's, receiver's) reports.
    pub fn udp_transfer(
        &self,
        from: Side,
        v6: bool,
        count: u32,
        pps: u32,
        seed: u64,
    ) -> Result<(Value, Value), String> {
        let to = from.other();
        let c = count.to_string();
        let s = seed.to_string();
        let (p, log) = self.server(to, &["udp-sink", to.host(v6), "5202", &c, &s, "60"]);
        let sent = self.client(
            from,
            &[
                "udp-send",
                to.host(v6),
                "5202",
                &c,
                &pps.to_string(),
                &s,
                from.host(v6),
            ],
            Duration::from_secs(60),
        );
        let got = self.server_result(p, &log, Duration::from_secs(15));
        match (sent, got) {
            (Ok(s), Ok(g)) => Ok((s, g)),
            (s, g) => Err(format!("sender: {s:?}\nreceiver: {g:?}")),
        }
    }

    /// Start a stream of `count` numbered UDP datagrams at `pps` from
    /// `from`'s host to the other host (port 5204) in the background;
    /// [`UdpStream::finish`] collects the reports.
    pub fn udp_stream_start(
        &self,
        from: Side,
        v6: bool,
        count: u32,
        pps: u32,
        seed: u64,
    ) -> UdpStream {
        let to = from.other();
        let (c, s) = (count.to_string(), seed.to_string());
        let limit = (u64::from(count) / u64::from(pps.max(1)) + 30).to_string();
        let (sink, sink_log) = self.server(to, &["udp-sink", to.host(v6), "5204", &c, &s, &limit]);
        let log = self.tool_log("udp-send");
        let tool = self.tool();
        let p = pps.to_string();
        let argv = [
            "python3",
            "-u",
            tool.as_str(),
            "udp-send",
            to.host(v6),
            "5204",
            &c,
            &p,
            &s,
            from.host(v6),
        ];
        let sender = self.host(from).spawn(&argv, &log);
        UdpStream {
            sender,
            sender_log: log,
            sink,
            sink_log,
            timeout: Duration::from_secs(u64::from(count) / u64::from(pps.max(1)) + 20),
        }
    }

    /// A UDP echo probe every `interval_ms` for `secs` from `from`'s host
    /// to an echo server on the other host, calling `tick` every 200 ms
    /// meanwhile. The prober's report: `sent`, `received`, `lost_count`,
    /// `lost` ([seq, seconds after the start]), `rtt_ms_*`.
    pub fn probe_stream(
        &self,
        from: Side,
        v6: bool,
        interval_ms: u32,
        secs: u32,
        mut tick: impl FnMut(),
    ) -> Result<Value, String> {
        let to = from.other();
        let dur = (secs + 20).to_string();
        let (srv, srv_log) = self.server(to, &["echo", to.host(v6), "5203", &dur]);
        let log = self.tool_log("probe");
        let tool = self.tool();
        let (i, s) = (interval_ms.to_string(), secs.to_string());
        let argv = [
            "python3",
            "-u",
            tool.as_str(),
            "probe",
            to.host(v6),
            "5203",
            &i,
            &s,
            from.host(v6),
        ];
        let mut p = self.host(from).spawn(&argv, &log);
        let deadline = Instant::now() + Duration::from_secs(u64::from(secs) + 15);
        while p.exited().is_none() && Instant::now() < deadline {
            tick();
            std::thread::sleep(Duration::from_millis(200));
        }
        let st = p.wait(Duration::from_secs(1));
        let text = fs::read_to_string(&log).unwrap_or_default();
        let echoed = self.server_result(srv, &srv_log, Duration::from_secs(5));
        match (st, last_json(&text)) {
            (Some(s), Some(mut v)) if s.success() => {
                if let Ok(e) = echoed {
                    v["echoed"] = e["echoed"].clone();
                }
                Ok(v)
            }
            _ => {
                p.kill();
                Err(format!("probe ended with {st:?}:\n{text}"))
            }
        }
    }
}

/// A background UDP stream made by [`DpLab::udp_stream_start`].
pub struct UdpStream {
    sender: Proc,
    sender_log: PathBuf,
    sink: Proc,
    sink_log: PathBuf,
    timeout: Duration,
}

impl UdpStream {
    /// Wait for the sender to finish and the receiver to report (the
    /// receiver gives up 3 s after the last datagram): Ok with (sender's,
    /// receiver's) reports.
    pub fn finish(mut self) -> Result<(Value, Value), String> {
        let sent = match self.sender.wait(self.timeout) {
            Some(st) if st.success() => {
                last_json(&fs::read_to_string(&self.sender_log).unwrap_or_default())
                    .ok_or_else(|| "the UDP sender printed no report".to_string())
            }
            st => Err(format!(
                "the UDP sender ended with {st:?}:\n{}",
                fs::read_to_string(&self.sender_log).unwrap_or_default()
            )),
        };
        let st = self.sink.wait(Duration::from_secs(10));
        let text = fs::read_to_string(&self.sink_log).unwrap_or_default();
        let got = match (st, last_json(&text)) {
            (Some(s), Some(v)) if s.success() => Ok(v),
            _ => Err(format!("the UDP receiver ended with {st:?}:\n{text}")),
        };
        match (sent, got) {
            (Ok(s), Ok(g)) => Ok((s, g)),
            (s, g) => Err(format!("sender: {s:?}\nreceiver: {g:?}")),
        }
    }
}

/// The last line of `text` that parses as a JSON object.
pub fn last_json(text: &str) -> Option<Value> {
    text.lines()
        .rev()
        .filter(|l| l.trim_start().starts_with('{'))
        .find_map(|l| serde_json::from_str(l).ok())
}

/// Panic unless a transfer's two reports agree on length and SHA-256
/// and the length is `bytes`.
pub fn assert_same_stream(what: &str, r: &Result<(Value, Value), String>, bytes: usize) {
    let (s, g) = match r {
        Ok(x) => x,
        Err(e) => panic!("{what}: transfer failed:\n{e}"),
    };
    assert_eq!(
        s["bytes"].as_u64(),
        Some(bytes as u64),
        "{what}: sender report {s}"
    );
    assert_eq!(
        g["bytes"].as_u64(),
        Some(bytes as u64),
        "{what}: the receiver got a different length: {g} (sender {s})"
    );
    assert_eq!(
        g["sha256"], s["sha256"],
        "{what}: content differs: receiver {g}, sender {s}"
    );
}
