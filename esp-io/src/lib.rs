//! The I/O of rvpn's data planes, kept out of the sans-IO `esp` crate:
//!
//! - [`tun`]: TUN devices named as the tunnel interfaces, multi-queue and
//!   with virtio-net headers;
//! - [`offload`] (with [`csum`]): cutting the TUN's TCP/UDP super packets
//!   into segments and merging decrypted segments back (GRO);
//! - [`batch`]: many UDP datagrams per system call (recvmmsg/sendmmsg with
//!   UDP GRO/GSO) and raw ESP sockets;
//! - [`sockopt`]: the socket options `socket2` lacks (UDP GRO/GSO,
//!   ESP-in-UDP decapsulation, forced buffer sizes);
//! - [`link`]: interfaces over rtnetlink (xfrm interfaces, up/down, MTU,
//!   addresses, counters), for both the userspace and the kernel backend.

// Not in [workspace.lints] (root Cargo.toml): these apply to this library
// only, and only outside its unit tests; a Cargo lints table applies to
// every target of every member and cannot depend on cfg(test).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

pub mod batch;
pub mod csum;
pub mod link;
pub mod offload;
pub mod pktinfo;
pub mod sockopt;
pub mod tun;
