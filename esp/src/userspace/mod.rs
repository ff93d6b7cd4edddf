//! The userspace backend's pieces that touch the kernel: TUN devices named
//! as the tunnel interfaces, and their settings over rtnetlink. The packet
//! path (TUN <-> SA <-> UDP 4500) builds on these (issue 4).

pub mod batch;
pub mod csum;
pub mod link;
pub mod offload;
pub mod tun;
