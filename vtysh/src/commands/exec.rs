//! Exec-mode commands and the commands every config mode shares
//! (`exit`, `end`, `do`).

use super::{config_modes, registry, Builder, Ctx};
use crate::grammar::Args;
use crate::mode::Mode;
use crate::model::Afi;
use crate::session::{BgpRoutesDir, CliError, ExecCommand, Frame, ShowCmd, SoftDir};

pub(super) fn register(b: &mut Builder) {
    use Mode::Exec;
    b.add(Exec, "configure [terminal]", |c, _| {
        c.push(Frame::Config);
        Ok(())
    });
    b.add(Exec, "<exit|quit>", |c, _| {
        c.quit = true;
        Ok(())
    });
    b.add(Exec, "end", |_, _| Ok(()));
    b.add(
        Exec,
        "show running-config [include-secrets] [json]",
        |c, a| {
            show(
                c,
                a,
                ShowCmd::RunningConfig {
                    include_secrets: a.has("include-secrets"),
                },
            )
        },
    );
    b.add(
        Exec,
        "show startup-config [include-secrets] [json]",
        |c, a| {
            show(
                c,
                a,
                ShowCmd::StartupConfig {
                    include_secrets: a.has("include-secrets"),
                },
            )
        },
    );
    b.add(Exec, "show version [json]", |c, a| {
        show(c, a, ShowCmd::Version)
    });
    b.add(Exec, "show interface [IFNAME] [brief] [json]", |c, a| {
        show(
            c,
            a,
            ShowCmd::Interface {
                name: a.get("IFNAME").map(String::from),
                brief: a.has("brief"),
            },
        )
    });
    b.add(
        Exec,
        "show interface virtual-access (1-2147483647) [json]",
        |c, a| {
            show(
                c,
                a,
                ShowCmd::Interface {
                    name: a
                        .get("(1-2147483647)")
                        .map(|n| format!("Virtual-Access{n}")),
                    brief: false,
                },
            )
        },
    );
    b.add(Exec, "show ip interface brief [json]", |c, a| {
        show(c, a, ShowCmd::IpInterfaceBrief)
    });
    b.add(Exec, "show crypto session [detail] [json]", |c, a| {
        show(
            c,
            a,
            ShowCmd::CryptoSession {
                detail: a.has("detail"),
            },
        )
    });
    b.add(Exec, "show crypto ikev2 sa [detail] [json]", |c, a| {
        show(
            c,
            a,
            ShowCmd::CryptoIkev2Sa {
                detail: a.has("detail"),
            },
        )
    });
    b.add(Exec, "show crypto ikev2 stats [json]", |c, a| {
        show(c, a, ShowCmd::CryptoIkev2Stats)
    });
    b.add(
        Exec,
        "show crypto pki certificates [TRUSTPOINT] [json]",
        |c, a| {
            show(
                c,
                a,
                ShowCmd::CryptoPkiCertificates {
                    trustpoint: a.get("TRUSTPOINT").map(String::from),
                },
            )
        },
    );
    b.add(Exec, "show crypto pki trustpoints [json]", |c, a| {
        show(c, a, ShowCmd::CryptoPkiTrustpoints)
    });
    b.add(
        Exec,
        "show crypto ipsec sa [interface IFNAME] [json]",
        |c, a| {
            show(
                c,
                a,
                ShowCmd::CryptoIpsecSa {
                    interface: a.get("IFNAME").map(String::from),
                },
            )
        },
    );
    b.add(
        Exec,
        "clear crypto <session|ikev2 sa> [peer <A.B.C.D|X:X::X:X>]",
        |c, a| {
            let peer = a
                .get("A.B.C.D")
                .or(a.get("X:X::X:X"))
                .and_then(|s| s.parse().ok());
            c.exec = Some(ExecCommand::ClearCrypto { peer });
            Ok(())
        },
    );
    b.add(
        Exec,
        "show ip route [<A.B.C.D/M|A.B.C.D>] [json]",
        |c, a| {
            let prefix = a.get("A.B.C.D/M").or(a.get("A.B.C.D")).map(str::to_string);
            show(c, a, ShowCmd::IpRoute { v6: false, prefix })
        },
    );
    b.add(
        Exec,
        "show ipv6 route [<X:X::X:X/M|X:X::X:X>] [json]",
        |c, a| {
            let prefix = a
                .get("X:X::X:X/M")
                .or(a.get("X:X::X:X"))
                .map(str::to_string);
            show(c, a, ShowCmd::IpRoute { v6: true, prefix })
        },
    );
    b.add(Exec, "show ip bgp summary [json]", |c, a| {
        show(c, a, ShowCmd::BgpSummary { afi: None })
    });
    b.add(
        Exec,
        "show bgp <ipv4|ipv6> unicast summary [json]",
        |c, a| {
            show(
                c,
                a,
                ShowCmd::BgpSummary {
                    afi: Some(afi_of(a)),
                },
            )
        },
    );
    b.add(Exec, "show ip bgp [<A.B.C.D/M|A.B.C.D>] [json]", |c, a| {
        let prefix = a.get("A.B.C.D/M").or(a.get("A.B.C.D")).map(str::to_string);
        show(
            c,
            a,
            ShowCmd::BgpRoutes {
                afi: Afi::Ipv4,
                prefix,
            },
        )
    });
    b.add(
        Exec,
        "show bgp <ipv4|ipv6> unicast [<A.B.C.D/M|A.B.C.D|X:X::X:X/M|X:X::X:X>] [json]",
        |c, a| {
            let prefix = a
                .get("A.B.C.D/M")
                .or(a.get("A.B.C.D"))
                .or(a.get("X:X::X:X/M"))
                .or(a.get("X:X::X:X"))
                .map(str::to_string);
            show(
                c,
                a,
                ShowCmd::BgpRoutes {
                    afi: afi_of(a),
                    prefix,
                },
            )
        },
    );
    b.add(
        Exec,
        "show ip bgp neighbors [<A.B.C.D|X:X::X:X> [<advertised-routes|received-routes>]] [json]",
        |c, a| {
            let addr = a
                .get("A.B.C.D")
                .or(a.get("X:X::X:X"))
                .and_then(|s| s.parse().ok());
            let routes = if a.has("advertised-routes") {
                Some(BgpRoutesDir::Advertised)
            } else if a.has("received-routes") {
                Some(BgpRoutesDir::Received)
            } else {
                None
            };
            show(c, a, ShowCmd::BgpNeighbors { addr, routes })
        },
    );
    b.add(Exec, "show bfd peers [brief] [json]", |c, a| {
        show(
            c,
            a,
            ShowCmd::BfdPeers {
                brief: a.has("brief"),
            },
        )
    });
    b.add(
        Exec,
        "clear ip bgp <*|A.B.C.D|X:X::X:X> [soft [<in|out>]]",
        |c, a| {
            let peer = a
                .get("A.B.C.D")
                .or(a.get("X:X::X:X"))
                .and_then(|s| s.parse().ok());
            let soft = if !a.has("soft") {
                None
            } else if a.has("in") {
                Some(SoftDir::In)
            } else if a.has("out") {
                Some(SoftDir::Out)
            } else {
                Some(SoftDir::Both)
            };
            c.exec = Some(ExecCommand::ClearBgp { peer, soft });
            Ok(())
        },
    );
    b.add(Exec, "write [memory]", |c, _| {
        c.exec = Some(ExecCommand::WriteMemory);
        Ok(())
    });
    b.add(Exec, "copy running-config startup-config", |c, _| {
        c.exec = Some(ExecCommand::WriteMemory);
        Ok(())
    });

    let cm = config_modes();
    b.add_many(&cm, "exit", |c, _| {
        c.frames.pop();
        Ok(())
    });
    b.add_many(&cm, "quit", |c, _| {
        c.frames.pop();
        Ok(())
    });
    b.add_many(&cm, "end", |c, _| {
        c.frames.truncate(1);
        Ok(())
    });
    b.add_many(&cm, "do LINE", do_exec);
}

fn afi_of(a: &Args) -> Afi {
    if a.has("ipv6") {
        Afi::Ipv6
    } else {
        Afi::Ipv4
    }
}

fn show(c: &mut Ctx, a: &Args, cmd: ShowCmd) -> Result<(), CliError> {
    c.exec = Some(ExecCommand::Show {
        cmd,
        json: a.has("json"),
    });
    Ok(())
}

/// `do CMD`: an exec command from a config mode; the mode does not change.
fn do_exec(c: &mut Ctx, a: &Args) -> Result<(), CliError> {
    let line = a.get("LINE").unwrap_or_default();
    let offset = a.column_of("LINE").unwrap_or(0);
    let (cmd, args) = registry()
        .parse(Mode::Exec, line)
        .map_err(|e| CliError::at(e.column().map(|x| x + offset), e.message()))?;
    if !args.has("show") && !args.has("write") && !args.has("copy") {
        return Err(CliError::at(
            Some(offset),
            "% Only show, write and copy can be run with 'do'",
        ));
    }
    let frames = std::mem::replace(&mut c.frames, vec![Frame::Exec]);
    let r = (cmd.handler)(c, &args);
    c.frames = frames;
    r
}
