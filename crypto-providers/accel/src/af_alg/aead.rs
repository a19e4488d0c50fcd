//! AES-GCM through AF_ALG (`aead` / `gcm(aes)`), compiled with the `af-alg` feature.
//!
//! **Untested on real hardware**: the kernel this project is developed and tested on has no
//! AF_ALG (`socket(AF_ALG, …)` fails with `EAFNOSUPPORT`), so only key setup failing cleanly is
//! exercised by the tests. The code follows the kernel's AEAD user API
//! (Documentation/crypto/userspace-if.rst, `crypto/algif_aead.c`):
//!
//! * the transform socket is bound to `gcm(aes)`, the key is set with `ALG_SET_KEY` and the tag
//!   length with `ALG_SET_AEAD_AUTHSIZE`;
//! * each operation runs on a socket `accept`ed from it: one `sendmsg` carries the operation
//!   (`ALG_SET_OP`), the IV (`ALG_SET_IV`) and the AAD length (`ALG_SET_AEAD_ASSOCLEN`) as
//!   control messages and `AAD ‖ input` as data; one `readv` returns `AAD ‖ output`, where the
//!   output of encryption is `ciphertext ‖ tag` and decryption fails with `EBADMSG` on a bad tag;
//! * idle operation sockets are kept in a small pool (an operation socket serves one operation
//!   at a time).
//!
//! One operation is limited by the socket's send buffer (typically 64 KiB or more): larger
//! inputs fail with an error rather than being split.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr;
use std::sync::Mutex;

use conclave_crypto::{AeadAlg, AeadKey, CryptoError, NONCE_LEN, TAG_LEN};

use super::sys::bound_socket;
use super::{AEAD_NAME, AEAD_TYPE};

/// Most idle operation sockets kept per key.
const POOL_SIZE: usize = 4;

/// An AES-GCM key held by the kernel crypto API (and the engine driving `gcm(aes)`).
pub struct AfAlgAeadKey {
    alg: AeadAlg,
    /// The transform socket: bound, keyed.
    tfm: OwnedFd,
    /// Idle operation sockets.
    pool: Mutex<Vec<OwnedFd>>,
}

impl fmt::Debug for AfAlgAeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AfAlgAeadKey")
            .field("algorithm", &self.alg)
            .finish_non_exhaustive()
    }
}

fn os_error(what: &str, err: &io::Error) -> CryptoError {
    CryptoError::Provider(format!("AF_ALG {what}: {err}"))
}

impl AfAlgAeadKey {
    /// Binds a transform socket to `gcm(aes)` and gives it `key` (16 or 32 bytes, matching
    /// `alg`) and the 16-byte tag length. The kernel keeps its own copy of the key; the caller's
    /// buffer is not retained.
    pub fn new(alg: AeadAlg, key: &[u8]) -> Result<Self, CryptoError> {
        if key.len() != alg.key_len() {
            return Err(CryptoError::InvalidLength {
                what: "AES-GCM key",
                expected: alg.key_len(),
                got: key.len(),
            });
        }
        let tfm = bound_socket(AEAD_TYPE, AEAD_NAME)
            .map_err(|failure| CryptoError::Provider(format!("AF_ALG: {failure}")))?;
        let key_len = libc::socklen_t::try_from(key.len())
            .map_err(|_| CryptoError::Provider("AF_ALG: key too long".into()))?;
        // SAFETY: `key` is valid for reads of `key_len` bytes for the duration of the call,
        // and `tfm` is a valid AF_ALG socket.
        let rc = unsafe {
            libc::setsockopt(
                tfm.as_raw_fd(),
                libc::SOL_ALG,
                libc::ALG_SET_KEY,
                key.as_ptr().cast(),
                key_len,
            )
        };
        if rc != 0 {
            return Err(os_error("ALG_SET_KEY", &io::Error::last_os_error()));
        }
        // SAFETY: ALG_SET_AEAD_AUTHSIZE takes no buffer (NULL) and the tag size as the length.
        let rc = unsafe {
            libc::setsockopt(
                tfm.as_raw_fd(),
                libc::SOL_ALG,
                libc::ALG_SET_AEAD_AUTHSIZE,
                ptr::null(),
                TAG_LEN as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(os_error(
                "ALG_SET_AEAD_AUTHSIZE",
                &io::Error::last_os_error(),
            ));
        }
        Ok(AfAlgAeadKey {
            alg,
            tfm,
            pool: Mutex::new(Vec::new()),
        })
    }

    /// An idle operation socket, or a new one.
    fn take_op_socket(&self) -> Result<OwnedFd, CryptoError> {
        if let Some(fd) = self.pool.lock().ok().and_then(|mut pool| pool.pop()) {
            return Ok(fd);
        }
        // SAFETY: `tfm` is a bound, keyed AF_ALG socket; NULL address arguments are allowed.
        let fd = unsafe {
            libc::accept4(
                self.tfm.as_raw_fd(),
                ptr::null_mut(),
                ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(os_error("accept", &io::Error::last_os_error()));
        }
        // SAFETY: `fd` is a freshly accepted descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Returns an operation socket to the pool after a successful operation.
    fn put_op_socket(&self, fd: OwnedFd) {
        if let Ok(mut pool) = self.pool.lock()
            && pool.len() < POOL_SIZE
        {
            pool.push(fd);
        }
    }

    /// One AEAD operation: sends `aad ‖ input…` with the control messages, reads
    /// `aad ‖ output…` back. The AAD echoed by the kernel goes to a scratch buffer.
    fn operate(
        &self,
        encrypt: bool,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        input: &[&[u8]],
        output: &mut [&mut [u8]],
    ) -> Result<(), CryptoError> {
        let op = self.take_op_socket()?;
        let assoclen = u32::try_from(aad.len())
            .map_err(|_| CryptoError::Provider("AF_ALG: AAD too long".into()))?;
        send_request(&op, encrypt, nonce, assoclen, aad, input)?;

        let mut aad_echo = vec![0u8; aad.len()];
        let mut iovs: Vec<IoSliceMut<'_>> = Vec::with_capacity(output.len() + 1);
        iovs.push(IoSliceMut::new(&mut aad_echo));
        for out in output.iter_mut() {
            iovs.push(IoSliceMut::new(out));
        }
        let expected: usize = iovs.iter().map(|s| s.len()).sum();
        let iov_count = libc::c_int::try_from(iovs.len())
            .map_err(|_| CryptoError::Provider("AF_ALG: too many buffers".into()))?;
        // SAFETY: `IoSliceMut` is ABI-compatible with `struct iovec` on Unix; every slice is
        // valid for writes of its length and outlives the call; `op` is a valid descriptor.
        let got = unsafe { libc::readv(op.as_raw_fd(), iovs.as_ptr().cast(), iov_count) };
        if got < 0 {
            let err = io::Error::last_os_error();
            return Err(if err.raw_os_error() == Some(libc::EBADMSG) {
                CryptoError::AuthenticationFailed
            } else {
                os_error("read", &err)
            });
        }
        if usize::try_from(got).ok() != Some(expected) {
            return Err(CryptoError::Provider(format!(
                "AF_ALG: short read ({got} of {expected} bytes)"
            )));
        }
        self.put_op_socket(op);
        Ok(())
    }
}

/// Control message payload sizes: the operation, the IV (`struct af_alg_iv` header + 12 bytes),
/// the AAD length.
const OP_LEN: usize = mem::size_of::<u32>();
const IV_LEN: usize = mem::size_of::<u32>() + NONCE_LEN;
const ASSOCLEN_LEN: usize = mem::size_of::<u32>();

/// Sends one request: the three control messages and `aad ‖ input…` as data.
fn send_request(
    op: &OwnedFd,
    encrypt: bool,
    nonce: &[u8; NONCE_LEN],
    assoclen: u32,
    aad: &[u8],
    input: &[&[u8]],
) -> Result<(), CryptoError> {
    let operation = if encrypt {
        libc::ALG_OP_ENCRYPT
    } else {
        libc::ALG_OP_DECRYPT
    } as u32;
    let mut iv = [0u8; IV_LEN];
    iv[..4].copy_from_slice(&(NONCE_LEN as u32).to_ne_bytes());
    iv[4..].copy_from_slice(nonce);

    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe {
        libc::CMSG_SPACE(OP_LEN as u32)
            + libc::CMSG_SPACE(IV_LEN as u32)
            + libc::CMSG_SPACE(ASSOCLEN_LEN as u32)
    } as usize;
    // u64 elements: the control buffer must be aligned for `cmsghdr`.
    let mut control = vec![0u64; space.div_ceil(mem::size_of::<u64>())];

    let mut iovs: Vec<IoSlice<'_>> = Vec::with_capacity(input.len() + 1);
    iovs.push(IoSlice::new(aad));
    iovs.extend(input.iter().map(|s| IoSlice::new(s)));
    let total: usize = iovs.iter().map(|s| s.len()).sum();

    // SAFETY: an all-zero `msghdr` is valid (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = iovs.as_ptr().cast_mut().cast();
    msg.msg_iovlen = iovs.len() as _;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;

    let messages: [(libc::c_int, &[u8]); 3] = [
        (libc::ALG_SET_OP, &operation.to_ne_bytes()),
        (libc::ALG_SET_IV, &iv),
        (libc::ALG_SET_AEAD_ASSOCLEN, &assoclen.to_ne_bytes()),
    ];
    // SAFETY: `msg.msg_control` points to `space` zeroed, 8-byte aligned bytes, which is
    // exactly the sum of CMSG_SPACE of the three payloads, so CMSG_FIRSTHDR/CMSG_NXTHDR yield
    // three non-null headers inside the buffer, each with room for CMSG_LEN(payload) bytes;
    // payloads are copied with unaligned writes.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        for (kind, payload) in messages {
            if cmsg.is_null() {
                return Err(CryptoError::Provider(
                    "AF_ALG: control buffer too small".into(),
                ));
            }
            (*cmsg).cmsg_level = libc::SOL_ALG;
            (*cmsg).cmsg_type = kind;
            (*cmsg).cmsg_len = libc::CMSG_LEN(payload.len() as u32) as _;
            ptr::copy_nonoverlapping(payload.as_ptr(), libc::CMSG_DATA(cmsg), payload.len());
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }

    // SAFETY: `msg` points to live iovecs (`IoSlice` is ABI-compatible with `struct iovec`)
    // and a filled control buffer, all outliving the call; `op` is a valid descriptor.
    let sent = unsafe { libc::sendmsg(op.as_raw_fd(), &msg, 0) };
    if sent < 0 {
        return Err(os_error("sendmsg", &io::Error::last_os_error()));
    }
    if usize::try_from(sent).ok() != Some(total) {
        return Err(CryptoError::Provider(format!(
            "AF_ALG: the kernel took {sent} of {total} bytes (input larger than one operation)"
        )));
    }
    Ok(())
}

impl AeadKey for AfAlgAeadKey {
    fn algorithm(&self) -> AeadAlg {
        self.alg
    }

    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let mut tag = [0u8; TAG_LEN];
        // Input and output are separate user buffers: the plaintext is sent from a copy
        // (wiped when dropped) and the ciphertext is read into the caller's buffer.
        let plaintext = zeroize::Zeroizing::new(buffer.to_vec());
        self.operate(true, nonce, aad, &[&plaintext], &mut [buffer, &mut tag])?;
        Ok(tag)
    }

    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        let ciphertext = buffer.to_vec();
        self.operate(false, nonce, aad, &[&ciphertext, tag], &mut [buffer])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_setup_fails_cleanly_without_af_alg() {
        // Where the kernel has AF_ALG this builds a key; here it must fail with a reason.
        match AfAlgAeadKey::new(AeadAlg::Aes256Gcm, &[7; 32]) {
            Ok(key) => assert_eq!(key.algorithm(), AeadAlg::Aes256Gcm),
            Err(CryptoError::Provider(why)) => assert!(why.starts_with("AF_ALG: "), "{why}"),
            Err(other) => panic!("unexpected error {other:?}"),
        }
        assert!(matches!(
            AfAlgAeadKey::new(AeadAlg::Aes128Gcm, &[7; 32]),
            Err(CryptoError::InvalidLength { .. })
        ));
    }
}
