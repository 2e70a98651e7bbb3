//! Messages that cross the launcher → supervisor unix socket (see docs/protocol.md).
//!
//! The launcher's helper sends one [`Hello`] datagram on a `SOCK_SEQPACKET` socket, with the seccomp listener fd
//! attached as `SCM_RIGHTS` when the filter has one. The encoding is fixed-size little-endian so that it can be built
//! before `fork` and sent without allocating.

use thiserror::Error;

/// Magic bytes at the start of every message: "SUPV".
pub const MAGIC: [u8; 4] = *b"SUPV";
/// Protocol version this build speaks.
pub const VERSION: u16 = 1;

/// First and only message of a launch: who the launcher is and whether a listener fd is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// Pid of the launcher (which becomes the program after `execve`).
    pub pid: u32,
    /// True when a seccomp listener fd is attached to this message.
    pub has_listener: bool,
}

/// Encoded size of a [`Hello`].
pub const HELLO_LEN: usize = 12;

/// A message that could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum WireError {
    #[error("message is {0} bytes, expected {HELLO_LEN}")]
    Length(usize),
    #[error("bad magic bytes")]
    Magic,
    #[error("protocol version {0} is not supported (this build speaks {VERSION})")]
    Version(u16),
    #[error("invalid flags {0:#x}")]
    Flags(u16),
}

impl Hello {
    /// Encodes the message: magic, version (u16 LE), flags (u16 LE, bit 0 = listener attached), pid (u32 LE).
    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut out = [0u8; HELLO_LEN];
        out[..4].copy_from_slice(&MAGIC);
        out[4..6].copy_from_slice(&VERSION.to_le_bytes());
        out[6..8].copy_from_slice(&u16::from(self.has_listener).to_le_bytes());
        out[8..12].copy_from_slice(&self.pid.to_le_bytes());
        out
    }

    /// Decodes a message received from the socket.
    ///
    /// # Errors
    /// [`WireError`] for a wrong length, magic, version or flags.
    pub fn decode(bytes: &[u8]) -> Result<Hello, WireError> {
        if bytes.len() != HELLO_LEN {
            return Err(WireError::Length(bytes.len()));
        }
        if bytes[..4] != MAGIC {
            return Err(WireError::Magic);
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != VERSION {
            return Err(WireError::Version(version));
        }
        let flags = u16::from_le_bytes([bytes[6], bytes[7]]);
        if flags > 1 {
            return Err(WireError::Flags(flags));
        }
        let pid = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        Ok(Hello { pid, has_listener: flags == 1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hello_round_trips() {
        for hello in [Hello { pid: 1, has_listener: true }, Hello { pid: u32::MAX, has_listener: false }] {
            assert_eq!(Hello::decode(&hello.encode()), Ok(hello));
        }
    }

    #[test]
    fn bad_messages_are_errors() {
        let good = Hello { pid: 7, has_listener: true }.encode();
        assert_eq!(Hello::decode(&good[..5]), Err(WireError::Length(5)));
        let mut bad = good;
        bad[0] = b'X';
        assert_eq!(Hello::decode(&bad), Err(WireError::Magic));
        let mut bad = good;
        bad[4] = 9;
        assert_eq!(Hello::decode(&bad), Err(WireError::Version(9)));
        let mut bad = good;
        bad[6] = 2;
        assert_eq!(Hello::decode(&bad), Err(WireError::Flags(2)));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Hello::decode(&bytes);
        }
    }
}
