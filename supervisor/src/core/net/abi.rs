//! The target's ABI for the send structures: where the fields of `struct msghdr`, `mmsghdr` and `iovec` are for a
//! 64-bit or a 32-bit program (`compat_msghdr`, as the kernel's compat layer reads them), and 32-bit control data
//! converted to the native kind (`cmsghdr_from_user_compat_to_kern`).

use crate::kernel::view::errno;
use crate::kernel::Fail;

fn einval() -> Fail {
    Fail::Errno(errno(libc::EINVAL))
}

/// Where the structures of the target's ABI are.
#[derive(Clone, Copy)]
pub(super) struct Layout {
    pub compat: bool,
}

impl Layout {
    pub(super) fn msghdr(self) -> usize {
        if self.compat {
            28
        } else {
            56
        }
    }

    pub(super) fn mmsghdr(self) -> usize {
        if self.compat {
            32
        } else {
            64
        }
    }

    pub(super) fn iovec(self) -> usize {
        if self.compat {
            8
        } else {
            16
        }
    }

    /// A pointer or `size_t` field at `at`.
    pub(super) fn word(self, b: &[u8], at: usize) -> u64 {
        if self.compat {
            u64::from(u32::from_ne_bytes(b[at..at + 4].try_into().unwrap_or_default()))
        } else {
            u64::from_ne_bytes(b[at..at + 8].try_into().unwrap_or_default())
        }
    }

    pub(super) fn int(b: &[u8], at: usize) -> i32 {
        i32::from_ne_bytes(b[at..at + 4].try_into().unwrap_or_default())
    }
}

/// 32-bit control data (`struct compat_cmsghdr`, 4-byte aligned) as the native kind
/// (`cmsghdr_from_user_compat_to_kern`): EINVAL for a malformed header or none at all.
pub(super) fn from_compat(bytes: &[u8]) -> Result<Vec<u8>, Fail> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 12 <= bytes.len() {
        let len = u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap_or_default()) as usize;
        if len < 12 || len > bytes.len() - at {
            return Err(einval());
        }
        let data = &bytes[at + 12..at + len];
        out.extend(((data.len() + 16) as u64).to_ne_bytes());
        out.extend(&bytes[at + 4..at + 12]);
        out.extend(data);
        out.resize(out.len().next_multiple_of(8), 0);
        at += len.next_multiple_of(4);
    }
    if out.is_empty() {
        return Err(einval());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCM_RIGHTS: i32 = 1;

    #[test]
    fn compat_control_data_becomes_native_as_the_kernel_converts_it() {
        // One SCM_RIGHTS with two fds, 4-byte aligned: 12 + 8 bytes.
        let mut compat = Vec::new();
        compat.extend(20u32.to_ne_bytes());
        compat.extend(libc::SOL_SOCKET.to_ne_bytes());
        compat.extend(SCM_RIGHTS.to_ne_bytes());
        compat.extend(3i32.to_ne_bytes());
        compat.extend(4i32.to_ne_bytes());
        let native = from_compat(&compat).unwrap();
        assert_eq!(native.len(), 24);
        assert_eq!(u64::from_ne_bytes(native[..8].try_into().unwrap()), 24);
        assert_eq!(Layout::int(&native, 8), libc::SOL_SOCKET);
        assert_eq!(Layout::int(&native, 16), 3);
        assert_eq!(Layout::int(&native, 20), 4);
        let table: &[&[u8]] = &[&[0; 8], &[40, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0], &[4, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]];
        for bad in table {
            assert_eq!(from_compat(bad).unwrap_err(), einval(), "{bad:?}");
        }
    }

    #[test]
    fn msghdr_fields_are_read_in_the_targets_abi() {
        let native = Layout { compat: false };
        let mut h = vec![0u8; 56];
        h[16..24].copy_from_slice(&0x1234u64.to_ne_bytes());
        assert_eq!(native.word(&h, 16), 0x1234);
        let compat = Layout { compat: true };
        let mut h = vec![0u8; 28];
        h[8..12].copy_from_slice(&0xffff_fff0u32.to_ne_bytes());
        assert_eq!(compat.word(&h, 8), 0xffff_fff0);
        assert_eq!((native.mmsghdr(), compat.mmsghdr(), native.iovec(), compat.iovec()), (64, 32, 16, 8));
    }
}
