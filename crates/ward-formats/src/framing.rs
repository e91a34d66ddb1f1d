//! RFC 6587 syslog-over-TCP framing: octet counting (`123 <34>1 …`) and
//! non-transparent framing (messages terminated by LF), decoded
//! incrementally from arbitrary byte chunks, with a maximum message size.
//!
//! In [`Framing::Auto`] the framing is chosen per message from its first
//! byte — a digit means octet counting, anything else (normally `<`) an
//! LF-terminated message — so one connection may use either, as rsyslog and
//! syslog-ng can be configured to.
//!
//! ```
//! use ward_formats::framing::{Decoder, Framing};
//!
//! let mut d = Decoder::new(Framing::Auto, 64 * 1024);
//! let mut got = Vec::new();
//! d.feed(b"11 <13>1 - - -<13>Oct 1", |f| got.push(f.map(|m| m.to_vec())));
//! d.feed(b"1 22:14:15 h a: b\n", |f| got.push(f.map(|m| m.to_vec())));
//! assert_eq!(got.len(), 2);
//! assert_eq!(got[0].as_ref().unwrap(), b"<13>1 - - -");
//! assert_eq!(got[1].as_ref().unwrap(), b"<13>Oct 11 22:14:15 h a: b");
//! ```

use crate::codes;

/// Which framing to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Decide per message from the first byte.
    Auto,
    /// RFC 6587 §3.4.1 octet counting only.
    OctetCounting,
    /// RFC 6587 §3.4.2 non-transparent framing (LF trailer) only.
    NonTransparent,
}

/// A framing problem. The decoder has already resynchronised when it
/// reports one; the caller counts it (it is a refused message) and goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Message longer than the maximum; it was discarded.
    #[error(
        "WF0302: message of {len} bytes exceeds the maximum of {max} (at stream byte {offset})"
    )]
    TooLarge {
        /// Declared (octet counting) or observed (LF) length so far.
        len: usize,
        /// The configured maximum.
        max: usize,
        /// Stream offset of the frame start.
        offset: u64,
    },
    /// An octet count that is not `1*DIGIT SP`; input up to the next LF was
    /// discarded.
    #[error("WF0301: bad octet count (at stream byte {offset})")]
    BadCount {
        /// Stream offset of the frame start.
        offset: u64,
    },
}

impl FrameError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            FrameError::TooLarge { .. } => codes::FRAME_TOO_LARGE,
            FrameError::BadCount { .. } => codes::FRAME_COUNT,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    /// Not skipping.
    None,
    /// Discard this many more bytes (oversized octet-counted frame).
    Bytes(usize),
    /// Discard up to and including the next LF.
    ToLf,
}

/// Incremental RFC 6587 decoder. Feed it chunks as they arrive; it calls back
/// once per complete message (without framing or trailing CR/LF/NUL), or with
/// a [`FrameError`].
#[derive(Debug)]
pub struct Decoder {
    framing: Framing,
    max: usize,
    buf: Vec<u8>,
    skip: Skip,
    /// Stream offset of `buf[0]`.
    base: u64,
}

impl Decoder {
    /// A decoder accepting messages up to `max_message_bytes`.
    pub fn new(framing: Framing, max_message_bytes: usize) -> Decoder {
        Decoder {
            framing,
            max: max_message_bytes.max(1),
            buf: Vec::with_capacity(64 * 1024),
            skip: Skip::None,
            base: 0,
        }
    }

    /// Bytes buffered awaiting the rest of a message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feed a chunk; `on_frame` is called for each complete message.
    pub fn feed<F>(&mut self, chunk: &[u8], mut on_frame: F)
    where
        F: FnMut(Result<&[u8], FrameError>),
    {
        self.buf.extend_from_slice(chunk);
        let mut pos = 0usize;
        let b = &self.buf[..];
        loop {
            match self.skip {
                Skip::Bytes(n) => {
                    let take = n.min(b.len() - pos);
                    pos += take;
                    self.skip = if take == n {
                        Skip::None
                    } else {
                        Skip::Bytes(n - take)
                    };
                    if self.skip != Skip::None {
                        break;
                    }
                }
                Skip::ToLf => match memchr::memchr(b'\n', &b[pos..]) {
                    Some(i) => {
                        pos += i + 1;
                        self.skip = Skip::None;
                    }
                    None => {
                        pos = b.len();
                        break;
                    }
                },
                Skip::None => {}
            }
            if pos >= b.len() {
                break;
            }
            let start_off = self.base + pos as u64;
            let first = b[pos];
            let octet = match self.framing {
                Framing::OctetCounting => true,
                Framing::NonTransparent => false,
                Framing::Auto => first.is_ascii_digit(),
            };
            if octet {
                // MSG-LEN SP: at most 10 digits.
                let mut i = pos;
                let mut len: usize = 0;
                while i < b.len() && b[i].is_ascii_digit() && i - pos < 10 {
                    len = len * 10 + usize::from(b[i] - b'0');
                    i += 1;
                }
                if i == b.len() {
                    break; // need more bytes for the count
                }
                if b[i] != b' ' || i == pos || b[pos] == b'0' {
                    on_frame(Err(FrameError::BadCount { offset: start_off }));
                    self.skip = Skip::ToLf;
                    pos = i;
                    continue;
                }
                let body = i + 1;
                if len > self.max {
                    on_frame(Err(FrameError::TooLarge {
                        len,
                        max: self.max,
                        offset: start_off,
                    }));
                    pos = body;
                    self.skip = Skip::Bytes(len);
                    continue;
                }
                if b.len() - body < len {
                    break; // incomplete frame
                }
                on_frame(Ok(trim_trailer(&b[body..body + len])));
                pos = body + len;
                // Some senders add LF after an octet-counted frame: eat it.
                if b.get(pos) == Some(&b'\n') {
                    pos += 1;
                }
            } else {
                match memchr::memchr(b'\n', &b[pos..]) {
                    Some(i) => {
                        if i > self.max {
                            on_frame(Err(FrameError::TooLarge {
                                len: i,
                                max: self.max,
                                offset: start_off,
                            }));
                        } else {
                            let msg = trim_trailer(&b[pos..pos + i]);
                            if !msg.is_empty() {
                                on_frame(Ok(msg));
                            }
                        }
                        pos += i + 1;
                    }
                    None => {
                        if b.len() - pos > self.max {
                            on_frame(Err(FrameError::TooLarge {
                                len: b.len() - pos,
                                max: self.max,
                                offset: start_off,
                            }));
                            pos = b.len();
                            self.skip = Skip::ToLf;
                        }
                        break;
                    }
                }
            }
        }
        self.buf.drain(..pos);
        self.base += pos as u64;
    }

    /// End of stream: a final LF-framed message without its LF is still a
    /// message (RFC 6587 senders often omit the last trailer). An incomplete
    /// octet-counted frame is reported as an error rather than lost silently.
    pub fn finish<F>(&mut self, mut on_frame: F)
    where
        F: FnMut(Result<&[u8], FrameError>),
    {
        if self.skip == Skip::None && !self.buf.is_empty() {
            let first = self.buf[0];
            let octet = match self.framing {
                Framing::OctetCounting => true,
                Framing::NonTransparent => false,
                Framing::Auto => first.is_ascii_digit(),
            };
            if octet {
                on_frame(Err(FrameError::BadCount { offset: self.base }));
            } else {
                let msg = trim_trailer(&self.buf);
                if !msg.is_empty() {
                    on_frame(Ok(msg));
                }
            }
        }
        self.base += self.buf.len() as u64;
        self.buf.clear();
        self.skip = Skip::None;
    }
}

fn trim_trailer(m: &[u8]) -> &[u8] {
    let mut end = m.len();
    while end > 0 && matches!(m[end - 1], b'\r' | b'\n' | 0) {
        end -= 1;
    }
    &m[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(d: &mut Decoder, chunks: &[&[u8]]) -> Vec<Result<Vec<u8>, FrameError>> {
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, |f| out.push(f.map(<[u8]>::to_vec)));
        }
        d.finish(|f| out.push(f.map(<[u8]>::to_vec)));
        out
    }

    #[test]
    fn byte_by_byte_octet_counting() {
        let input = b"5 hello6 world!3 abc";
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        let out = run(&mut Decoder::new(Framing::OctetCounting, 100), &chunks);
        let msgs: Vec<_> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            msgs,
            vec![b"hello".to_vec(), b"world!".to_vec(), b"abc".to_vec()]
        );
    }

    #[test]
    fn lf_with_crlf_and_final_unterminated() {
        let out = run(
            &mut Decoder::new(Framing::NonTransparent, 100),
            &[b"a\r\nb\n\nc"],
        );
        let msgs: Vec<_> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(msgs, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn oversize_is_reported_and_skipped() {
        let out = run(
            &mut Decoder::new(Framing::Auto, 4),
            &[b"10 0123456789", b"3 abc<1>toolongline\nok\n"],
        );
        assert!(matches!(
            out[0],
            Err(FrameError::TooLarge {
                len: 10,
                max: 4,
                offset: 0
            })
        ));
        assert_eq!(out[1].as_ref().unwrap(), b"abc");
        assert!(matches!(out[2], Err(FrameError::TooLarge { .. })));
        assert_eq!(out[3].as_ref().unwrap(), b"ok");
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn oversize_lf_across_chunks() {
        let out = run(
            &mut Decoder::new(Framing::NonTransparent, 4),
            &[b"<1>abcdef", b"ghi\nxy\n"],
        );
        assert!(matches!(out[0], Err(FrameError::TooLarge { .. })));
        assert_eq!(out[1].as_ref().unwrap(), b"xy");
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn bad_count_resyncs_at_lf() {
        let out = run(
            &mut Decoder::new(Framing::OctetCounting, 100),
            &[b"12x garbage\n3 abc"],
        );
        assert!(matches!(out[0], Err(FrameError::BadCount { offset: 0 })));
        assert_eq!(out[1].as_ref().unwrap(), b"abc");
        assert_eq!(out[0].as_ref().unwrap_err().code(), codes::FRAME_COUNT);
    }

    #[test]
    fn truncated_octet_frame_at_eof_is_an_error() {
        let out = run(&mut Decoder::new(Framing::Auto, 100), &[b"10 abc"]);
        assert!(matches!(out[0], Err(FrameError::BadCount { .. })));
    }
}
