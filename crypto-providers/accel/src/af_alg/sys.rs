//! The system calls behind AF_ALG, each `unsafe` block with its justification.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::{ProbeFailure, ProbeStep};

/// Copies `s` into a NUL-terminated fixed-size C string field, or `None` if it does not fit.
fn c_field<const N: usize>(s: &str) -> Option<[libc::c_uchar; N]> {
    let bytes = s.as_bytes();
    if bytes.len() >= N || bytes.contains(&0) {
        return None;
    }
    let mut out = [0; N];
    out[..bytes.len()].copy_from_slice(bytes);
    Some(out)
}

/// An `AF_ALG` socket bound to `alg_type` / `alg_name` (the "transform" socket: keys are set on
/// it, and operation sockets are `accept`ed from it).
pub(crate) fn bound_socket(alg_type: &str, alg_name: &str) -> Result<OwnedFd, ProbeFailure> {
    // SAFETY: socket(2) takes no pointers; it returns -1 or a new descriptor that we own.
    let fd = unsafe { libc::socket(libc::AF_ALG, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(ProbeFailure::from_os(
            ProbeStep::Socket,
            &io::Error::last_os_error(),
        ));
    }
    // SAFETY: `fd` is a freshly opened, valid descriptor that nothing else owns or closes.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };

    let invalid = || ProbeFailure {
        step: ProbeStep::Bind,
        errno: Some(libc::EINVAL),
        message: "algorithm type or name too long".into(),
    };
    let addr = libc::sockaddr_alg {
        salg_family: libc::AF_ALG as libc::sa_family_t,
        salg_type: c_field(alg_type).ok_or_else(invalid)?,
        salg_feat: 0,
        salg_mask: 0,
        salg_name: c_field(alg_name).ok_or_else(invalid)?,
    };
    let len = mem::size_of::<libc::sockaddr_alg>() as libc::socklen_t;
    // SAFETY: `addr` is a fully initialised `sockaddr_alg` that outlives the call, `len` is
    // its exact size, and `socket` is a valid descriptor.
    let rc = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&raw const addr).cast::<libc::sockaddr>(),
            len,
        )
    };
    if rc != 0 {
        return Err(ProbeFailure::from_os(
            ProbeStep::Bind,
            &io::Error::last_os_error(),
        ));
    }
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_fields_are_nul_terminated_and_bounded() {
        assert_eq!(c_field::<4>("abc"), Some(*b"abc\0"));
        assert_eq!(c_field::<4>("abcd"), None);
        assert_eq!(c_field::<4>("a\0b"), None);
    }
}
