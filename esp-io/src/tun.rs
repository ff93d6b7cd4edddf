//! TUN devices named as the operator's tunnel interfaces (`Tunnel1`):
//! raw IP packets in and out, one file descriptor per queue.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_MULTI_QUEUE: libc::c_short = 0x0100;
/// _IOW('T', 202, int)
const TUNSETIFF: libc::c_ulong = 0x400454ca;

#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Offloads asked of a TUN opened with a virtio-net header: checksum,
/// TSO for IPv4 and IPv6, and UDP segmentation (Linux 6.2 and later).
const OFFLOADS_USO: libc::c_uint =
    libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_USO4 | libc::TUN_F_USO6;
/// The same without UDP segmentation, for kernels that refuse it.
const OFFLOADS_TSO: libc::c_uint = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;

/// One queue of a TUN device.
#[derive(Debug)]
pub struct Tun {
    fd: OwnedFd,
    name: String,
    /// Every packet carries a virtio-net header (`IFF_VNET_HDR`).
    vnet_hdr: bool,
    /// The `TUN_F_*` offloads the kernel accepted.
    offloads: libc::c_uint,
}

impl Tun {
    /// Create (or attach to) the TUN device `name`, multi-queue so that
    /// every worker can own a queue ([`Tun::open_queue`]).
    pub fn create(name: &str) -> io::Result<Tun> {
        Tun::open(name, IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE)
    }

    /// Like [`Tun::create`], with a 10-byte virtio-net header in front of
    /// every packet read and written
    /// ([`crate::offload::VirtioNetHdr`]) and the checksum and
    /// TSO offloads on (UDP segmentation too where the kernel has it):
    /// reads may then return GSO super packets of up to 64 KiB plus the
    /// header (read into buffers of 65545 bytes, or lose their tails), to
    /// cut with a [`crate::offload::Segmenter`], and writes may
    /// carry them ([`crate::offload::GroBatch`]).
    /// Also says whether the offloads are on; when the kernel refuses them
    /// all, packets still carry the header, with nothing to do in it.
    pub fn create_offload(name: &str) -> io::Result<(Tun, bool)> {
        Tun::offload(name, IFF_MULTI_QUEUE)
    }

    /// Like [`Tun::create_offload`], single-queue: one reader for the
    /// device, and none of a multi-queue device's set-up cost (the kernel
    /// gives a multi-queue TUN 256 transmit queues, each with a qdisc
    /// allocated when the link comes up: about 5 ms of kernel time per
    /// device, against 0.4 ms for a single queue). For hubs with many
    /// tunnel interfaces; [`Tun::open_queue`] fails on such a device.
    pub fn create_offload_single(name: &str) -> io::Result<(Tun, bool)> {
        Tun::offload(name, 0)
    }

    fn offload(name: &str, mq: libc::c_short) -> io::Result<(Tun, bool)> {
        let flags = IFF_TUN | IFF_NO_PI | mq | libc::IFF_VNET_HDR as libc::c_short;
        let mut t = Tun::open(name, flags)?;
        t.vnet_hdr = true;
        t.set_vnet_hdr_size()?;
        t.offloads = [OFFLOADS_USO, OFFLOADS_TSO]
            .into_iter()
            .find(|&o| t.set_offload(o).is_ok())
            .unwrap_or(0);
        let on = t.offloads != 0;
        Ok((t, on))
    }

    fn set_vnet_hdr_size(&self) -> io::Result<()> {
        let size: libc::c_int = 10;
        // SAFETY: TUNSETVNETHDRSZ reads an int we own.
        if unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::TUNSETVNETHDRSZ,
                &size as *const libc::c_int,
            )
        } < 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn set_offload(&self, offloads: libc::c_uint) -> io::Result<()> {
        // SAFETY: TUNSETOFFLOAD takes its argument by value.
        let r = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::TUNSETOFFLOAD,
                libc::c_ulong::from(offloads),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Whether packets carry a virtio-net header ([`Tun::create_offload`]).
    pub fn vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }

    /// The `TUN_F_*` offload bits the kernel accepted (0 if none).
    pub fn offloads(&self) -> u32 {
        self.offloads
    }

    /// Whether reads may return UDP GSO super packets (`TUN_F_USO4/6`).
    pub fn uso(&self) -> bool {
        self.offloads & libc::TUN_F_USO4 != 0
    }

    fn open(name: &str, flags: libc::c_short) -> io::Result<Tun> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('/') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {name:?}"),
            ));
        }
        // SAFETY: open(2) on a constant path; the descriptor is owned below.
        let raw = unsafe {
            libc::open(
                c"/dev/net/tun".as_ptr(),
                libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags,
            _pad: [0; 22],
        };
        for (d, s) in req.name.iter_mut().zip(name.bytes()) {
            *d = s as libc::c_char;
        }
        // SAFETY: TUNSETIFF reads an ifreq we own and initialised.
        if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut req as *mut IfReq) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Tun {
            fd,
            name: name.to_string(),
            vnet_hdr: false,
            offloads: 0,
        })
    }

    /// Another queue of the same device, with the same header and offloads.
    pub fn open_queue(&self) -> io::Result<Tun> {
        if !self.vnet_hdr {
            return Tun::create(&self.name);
        }
        let flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE | libc::IFF_VNET_HDR as libc::c_short;
        let mut q = Tun::open(&self.name, flags)?;
        q.vnet_hdr = true;
        q.set_vnet_hdr_size()?;
        if self.offloads != 0 {
            q.set_offload(self.offloads)?;
        }
        q.offloads = self.offloads;
        Ok(q)
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Read one packet (non-blocking: `WouldBlock` when none is queued).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: read(2) into a buffer we own, bounded by its length.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Write one packet.
    pub fn send(&self, pkt: &[u8]) -> io::Result<usize> {
        // SAFETY: write(2) from a buffer we own, bounded by its length.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), pkt.as_ptr().cast(), pkt.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Write one packet gathered from `iov` (with a virtio-net header,
    /// the header first), as [`crate::offload::GroBatch::flush`]
    /// hands them out.
    pub fn send_vectored(&self, iov: &[IoSlice<'_>]) -> io::Result<usize> {
        let cnt = libc::c_int::try_from(iov.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: IoSlice is ABI-compatible with struct iovec; writev(2)
        // reads `cnt` of them, all borrowed for the call.
        let n = unsafe { libc::writev(self.fd.as_raw_fd(), iov.as_ptr().cast(), cnt) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
