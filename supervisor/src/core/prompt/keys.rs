//! Keys from the terminal's input, as only a person types them.
//!
//! The terminal itself writes into its input: answers to queries that any program can print (`ESC [ c` device
//! attributes, `ESC ] 11 ; ?` the background colour as `rgb:aaaa/…`, `ESC [ 6 n` the cursor position, window titles,
//! clipboard contents), and pasted text. A program could use them to type `a` or `y` for the person. So the
//! [`Decoder`] skips every escape sequence whole (CSI, SS3, OSC, DCS, APC, PM, SOS, in their 7-bit and 8-bit
//! forms, and bracketed pastes), even across reads, and a read counts as a key only if it holds exactly one byte
//! outside them: people type one key at a time, terminals answer and pastes arrive several bytes at once. Ctrl-C
//! counts wherever it is (it only denies). A sequence left open for more than [`STALE`] (a lone Escape key) is
//! forgotten.

use std::time::{Duration, Instant};

use super::Key;

/// How long an unfinished escape sequence keeps swallowing input.
pub const STALE: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    /// After ESC.
    Escape,
    /// ESC followed by an intermediate byte (`ESC ( B`): one more byte ends it.
    EscapeIntermediate,
    /// ESC [ or CSI: parameters until a final byte.
    Csi,
    /// ESC O: one byte.
    Ss3,
    /// OSC, DCS, APC, PM, SOS: a string until BEL or ST (ESC \ or 0x9c).
    String,
    /// ESC inside a string: `\` ends it.
    StringEscape,
    /// Between `ESC [ 200 ~` and `ESC [ 201 ~`: pasted text.
    Paste,
}

/// Turns reads of the terminal into keys; see the module header.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    /// Parameters of the CSI being read (to see the bracketed-paste markers).
    params: Vec<u8>,
    /// The last 6 bytes of a paste (to find its end marker).
    tail: Vec<u8>,
    last: Option<Instant>,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder { state: State::Ground, params: Vec::new(), tail: Vec::new(), last: None }
    }
}

const ESC: u8 = 0x1b;
const PASTE_END: &[u8] = b"\x1b[201~";

impl Decoder {
    /// The key in one read of the terminal, if it holds exactly one.
    pub fn read(&mut self, bytes: &[u8], now: Instant) -> Option<Key> {
        if self.last.is_some_and(|last| now.duration_since(last) > STALE) && self.state != State::Paste {
            self.state = State::Ground;
        }
        self.last = Some(now);
        let mut keys = 0usize;
        let mut key = None;
        let mut ctrl_c = false;
        for &b in bytes {
            if let Some(k) = self.byte(b) {
                keys += 1;
                ctrl_c |= k == 3;
                key = Some(k);
            }
        }
        if ctrl_c {
            return Some(Key::CtrlC);
        }
        match (keys, key) {
            (1, Some(k)) if k.is_ascii() => Some(Key::Char(char::from(k))),
            _ => None,
        }
    }

    /// One byte; `Some` if it is outside every sequence.
    fn byte(&mut self, b: u8) -> Option<u8> {
        match self.state {
            State::Ground => match b {
                ESC => self.state = State::Escape,
                0x9b => return self.csi(),
                0x8f => self.state = State::Ss3,
                0x90 | 0x98 | 0x9d | 0x9e | 0x9f => self.state = State::String,
                _ => return Some(b),
            },
            State::Escape => {
                self.state = match b {
                    b'[' => return self.csi(),
                    b'O' => State::Ss3,
                    b']' | b'P' | b'X' | b'^' | b'_' => State::String,
                    ESC => State::Escape,
                    0x20..=0x2f => State::EscapeIntermediate,
                    // Alt+key, or a two-byte sequence: neither is a key.
                    _ => State::Ground,
                }
            }
            State::EscapeIntermediate => {
                if !(0x20..=0x2f).contains(&b) {
                    self.state = State::Ground;
                }
            }
            State::Ss3 => self.state = State::Ground,
            State::Csi => match b {
                0x40..=0x7e => {
                    let paste = b == b'~' && self.params == b"200";
                    self.state = if paste { State::Paste } else { State::Ground };
                    self.tail.clear();
                }
                // A new sequence inside a broken one.
                ESC => self.state = State::Escape,
                _ => {
                    if self.params.len() < 32 {
                        self.params.push(b);
                    }
                }
            },
            State::String => match b {
                0x07 | 0x9c => self.state = State::Ground,
                ESC => self.state = State::StringEscape,
                _ => {}
            },
            State::StringEscape => self.state = if b == b'\\' { State::Ground } else { State::String },
            State::Paste => {
                self.tail.push(b);
                if self.tail.len() > PASTE_END.len() {
                    self.tail.remove(0);
                }
                if self.tail == PASTE_END {
                    self.state = State::Ground;
                }
            }
        }
        None
    }

    fn csi(&mut self) -> Option<u8> {
        self.state = State::Csi;
        self.params.clear();
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(reads: &[&[u8]]) -> Vec<Option<Key>> {
        let mut d = Decoder::default();
        let now = Instant::now();
        reads.iter().map(|r| d.read(r, now)).collect()
    }

    #[test]
    fn one_typed_key_is_a_key() {
        assert_eq!(keys(&[b"y", b"n", b"\x03"]), [Some(Key::Char('y')), Some(Key::Char('n')), Some(Key::CtrlC)]);
    }

    #[test]
    fn terminal_answers_never_become_keys() {
        for answer in [
            &b"\x1b[?64;1;2;6;9;15;18;21;22c"[..],
            b"\x1b]11;rgb:aaaa/aaaa/aaaa\x1b\\",
            b"\x1b]10;rgb:dddd/aaaa/aaaa\x07",
            b"\x9d11;rgb:aaaa/aaaa/aaaa\x9c",
            b"\x1b[12;40R",
            b"\x1bP1$r0;1m\x1b\\",
            b"\x1b]l title: y \x1b\\",
            b"\x1bOA",
            b"\x1b[200~y\x1b[201~",
            b"ya",
            b"\x1by",
        ] {
            assert_eq!(keys(&[answer]), [None], "{answer:?}");
        }
    }

    #[test]
    fn a_sequence_split_across_reads_is_still_skipped() {
        assert_eq!(
            keys(&[b"\x1b]11;rgb:", b"a", b"aaa/aaaa/aaaa\x07", b"y"]),
            [None, None, None, Some(Key::Char('y'))]
        );
        assert_eq!(keys(&[b"\x1b[200~", b"y", b"\x1b[201~", b"n"]), [None, None, None, Some(Key::Char('n'))]);
    }

    #[test]
    fn a_lone_escape_is_forgotten_after_a_while() {
        let mut d = Decoder::default();
        let t = Instant::now();
        assert_eq!(d.read(b"\x1b", t), None);
        assert_eq!(d.read(b"y", t + STALE * 2), Some(Key::Char('y')));
    }

    #[test]
    fn ctrl_c_denies_wherever_it_is() {
        assert_eq!(keys(&[b"ab\x03"]), [Some(Key::CtrlC)]);
    }
}
