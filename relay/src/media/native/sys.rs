//! The system calls of the datagram path (Linux): `recvmmsg`, `sendmmsg`, `sendmsg` with a
//! `UDP_SEGMENT` control message. Every buffer they touch is allocated once; the `unsafe`
//! blocks are the FFI calls and the reads of what the kernel wrote, nothing else.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

use socket2::SockAddr;

/// Bytes of one receive slot: larger than any valid datagram, so that oversized ones are
/// seen (and counted) as such.
pub const SLOT: usize = 2048;

/// A batch of receive slots for `recvmmsg`.
pub struct RecvBatch {
    bufs: Box<[[u8; SLOT]]>,
    names: Box<[libc::sockaddr_storage]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
}

// SAFETY: the raw pointers inside `iovs` and `hdrs` only ever point into this batch's own
// boxed buffers (which move with it) and are rewritten before every call.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub fn new(slots: usize) -> Self {
        let slots = slots.max(1);
        RecvBatch {
            bufs: vec![[0u8; SLOT]; slots].into_boxed_slice(),
            // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs for which
            // all-zero bytes (null pointers, zero lengths) are valid values.
            names: (0..slots).map(|_| unsafe { zeroed() }).collect(),
            // SAFETY: as above.
            iovs: (0..slots).map(|_| unsafe { zeroed() }).collect(),
            // SAFETY: as above.
            hdrs: (0..slots).map(|_| unsafe { zeroed() }).collect(),
        }
    }

    pub fn slots(&self) -> usize {
        self.bufs.len()
    }

    /// Receives up to `slots` datagrams: blocks until at least one arrives or the socket's
    /// read timeout passes (`Ok(0)`).
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        for i in 0..self.bufs.len() {
            let (Some(buf), Some(iov), Some(name), Some(hdr)) = (
                self.bufs.get_mut(i),
                self.iovs.get_mut(i),
                self.names.get_mut(i),
                self.hdrs.get_mut(i),
            ) else {
                break;
            };
            iov.iov_base = buf.as_mut_ptr().cast();
            iov.iov_len = SLOT;
            hdr.msg_hdr.msg_name = (name as *mut libc::sockaddr_storage).cast();
            hdr.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_hdr.msg_iov = iov;
            hdr.msg_hdr.msg_iovlen = 1;
            hdr.msg_hdr.msg_control = std::ptr::null_mut();
            hdr.msg_hdr.msg_controllen = 0;
            hdr.msg_hdr.msg_flags = 0;
            hdr.msg_len = 0;
        }
        // SAFETY: `hdrs` holds `len` initialised mmsghdr whose iovecs and names point into
        // this batch's live buffers of the stated sizes; the kernel writes only within them.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        Ok(n as usize)
    }

    /// Datagram `i` of the last [`Self::recv`]: its bytes (mutable, for the in-place
    /// rewrite) and its source. A truncated datagram is reported with a length above
    /// `MAX_DATAGRAM` so that it counts as oversized.
    pub fn datagram(&mut self, i: usize) -> Option<(&mut [u8], Option<SocketAddr>)> {
        let hdr = self.hdrs.get(i)?;
        let truncated = hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        let len = if truncated {
            SLOT
        } else {
            hdr.msg_len as usize
        };
        let from = sockaddr_to_std(self.names.get(i)?, hdr.msg_hdr.msg_namelen);
        let buf = self.bufs.get_mut(i)?.get_mut(..len.min(SLOT))?;
        Some((buf, from))
    }
}

/// The `SocketAddr` the kernel wrote into `s`.
fn sockaddr_to_std(s: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match i32::from(s.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the kernel wrote a sockaddr_in here; sockaddr_storage
            // is larger than and aligned for every sockaddr type.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                u32::from_be(a.sin6_flowinfo),
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// A `UDP_SEGMENT` control message (`CMSG_SPACE(sizeof(u16))` bytes).
#[repr(C)]
#[derive(Clone, Copy)]
struct GsoCmsg {
    hdr: libc::cmsghdr,
    segment: u16,
    _pad: [u8; 6],
}

// The data of a control message starts right after its (aligned) header.
const _: () = assert!(std::mem::offset_of!(GsoCmsg, segment) == size_of::<libc::cmsghdr>());
const _: () = assert!(size_of::<libc::cmsghdr>().is_multiple_of(size_of::<usize>()));

/// One outgoing message: the bytes `off..off + len` of the sender's arena to one
/// destination, as `segments` datagrams of `segment` bytes (the last may be shorter)
/// when `segments > 1`.
#[derive(Debug, Clone, Copy)]
pub struct OutMsg {
    pub off: usize,
    pub len: usize,
    pub segment: u16,
    pub segments: u16,
    pub dest: usize,
}

/// What a send attempt achieved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub datagrams: u64,
    pub bytes: u64,
    pub failed: u64,
    /// The kernel refused `UDP_SEGMENT`: the caller should stop using GSO.
    pub gso_refused: bool,
}

/// Preallocated `sendmmsg` state.
pub struct SendBatch {
    names: Vec<SockAddr>,
    iovs: Box<[libc::iovec]>,
    cmsgs: Box<[GsoCmsg]>,
    hdrs: Box<[libc::mmsghdr]>,
}

// SAFETY: the raw pointers inside `iovs` and `hdrs` are rewritten before every call and
// point only into buffers borrowed for that call.
unsafe impl Send for SendBatch {}

impl SendBatch {
    /// Room for `capacity` messages per system call and `destinations` addresses.
    pub fn new(capacity: usize, destinations: usize) -> Self {
        let capacity = capacity.max(1);
        SendBatch {
            names: Vec::with_capacity(destinations),
            // SAFETY: iovec, cmsghdr and mmsghdr are plain C structs; all-zero is valid.
            iovs: (0..capacity).map(|_| unsafe { zeroed() }).collect(),
            // SAFETY: as above.
            cmsgs: (0..capacity).map(|_| unsafe { zeroed() }).collect(),
            // SAFETY: as above.
            hdrs: (0..capacity).map(|_| unsafe { zeroed() }).collect(),
        }
    }

    /// Sets the destination table the messages index into (no allocation within the
    /// capacity given to [`Self::new`]).
    pub fn set_destinations(&mut self, dests: &[SocketAddr]) {
        self.names.clear();
        self.names.extend(dests.iter().map(|d| SockAddr::from(*d)));
    }

    /// Sends `msgs` (bytes in `arena`): with `sendmmsg` in batches when `batched`, else
    /// one `sendmsg` per message.
    pub fn send(
        &mut self,
        socket: &UdpSocket,
        arena: &[u8],
        msgs: &[OutMsg],
        batched: bool,
    ) -> Sent {
        let mut sent = Sent::default();
        for chunk in msgs.chunks(self.hdrs.len()) {
            let n = self.prepare(arena, chunk);
            let mut i = 0;
            while i < n {
                let r = if batched {
                    let rest = self.hdrs.get_mut(i..n).unwrap_or_default();
                    // SAFETY: the `n - i` headers were prepared by `prepare` for this call:
                    // their iovecs point into `arena` (bounds checked there), their names into
                    // `self.names` and their control messages into `self.cmsgs`, all alive and
                    // unchanged until the call returns.
                    unsafe {
                        libc::sendmmsg(
                            socket.as_raw_fd(),
                            rest.as_mut_ptr(),
                            rest.len() as libc::c_uint,
                            0,
                        )
                    }
                } else {
                    let Some(h) = self.hdrs.get(i) else { break };
                    // SAFETY: as above, for the one prepared header.
                    let r = unsafe { libc::sendmsg(socket.as_raw_fd(), &h.msg_hdr, 0) };
                    if r < 0 { -1 } else { 1 }
                };
                if r < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    if let Some(m) = chunk.get(i) {
                        sent.failed += u64::from(m.segments.max(1));
                        if m.segments > 1
                            && matches!(
                                e.raw_os_error(),
                                Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT)
                            )
                        {
                            sent.gso_refused = true;
                        }
                    }
                    i += 1;
                    continue;
                }
                for m in chunk.iter().skip(i).take(r as usize) {
                    sent.datagrams += u64::from(m.segments.max(1));
                    sent.bytes += m.len as u64;
                }
                i += r as usize;
            }
        }
        sent
    }

    /// Fills the headers for `chunk`; returns how many are ready.
    fn prepare(&mut self, arena: &[u8], chunk: &[OutMsg]) -> usize {
        let mut n = 0;
        for m in chunk {
            let (Some(bytes), Some(name), Some(iov), Some(cmsg), Some(hdr)) = (
                arena.get(m.off..m.off + m.len),
                self.names.get(m.dest),
                self.iovs.get_mut(n),
                self.cmsgs.get_mut(n),
                self.hdrs.get_mut(n),
            ) else {
                continue;
            };
            iov.iov_base = bytes.as_ptr() as *mut libc::c_void;
            iov.iov_len = bytes.len();
            hdr.msg_hdr.msg_name = name.as_ptr() as *mut libc::c_void;
            hdr.msg_hdr.msg_namelen = name.len();
            hdr.msg_hdr.msg_iov = iov;
            hdr.msg_hdr.msg_iovlen = 1;
            hdr.msg_hdr.msg_flags = 0;
            hdr.msg_len = 0;
            if m.segments > 1 {
                cmsg.hdr.cmsg_len = (size_of::<libc::cmsghdr>() + size_of::<u16>()) as _;
                cmsg.hdr.cmsg_level = libc::SOL_UDP;
                cmsg.hdr.cmsg_type = libc::UDP_SEGMENT;
                cmsg.segment = m.segment;
                hdr.msg_hdr.msg_control = (cmsg as *mut GsoCmsg).cast();
                hdr.msg_hdr.msg_controllen = size_of::<GsoCmsg>() as _;
            } else {
                hdr.msg_hdr.msg_control = std::ptr::null_mut();
                hdr.msg_hdr.msg_controllen = 0;
            }
            n += 1;
        }
        n
    }
}

/// Does the kernel support UDP GSO on this socket?
pub fn gso_supported(socket: &UdpSocket) -> bool {
    let mut v: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `v`, which lives for the call.
    let r = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    r == 0
}

/// Waits until `a` or `b` has a datagram to read, at most `wait`; says which.
pub fn poll_readable(a: &UdpSocket, b: &UdpSocket, wait: std::time::Duration) -> (bool, bool) {
    use std::os::fd::AsRawFd;
    let mut fds = [
        libc::pollfd {
            fd: a.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: b.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX).max(1);
    // SAFETY: `fds` is a valid array of two initialised pollfd structs that outlives the
    // call, and its length is passed as nfds; poll only writes their `revents`.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if n <= 0 {
        return (false, false);
    }
    let ready = |f: &libc::pollfd| f.revents & (libc::POLLIN | libc::POLLERR) != 0;
    (ready(&fds[0]), ready(&fds[1]))
}
