//! Pure builders and parsers for the protocols the checks speak. Nothing in
//! here does I/O, so every parser of bytes received from a target can be
//! fuzzed directly (see `crates/ward-scan/fuzz/`).

pub mod http;
pub mod rdp;
pub mod smb;
pub mod tls;
pub mod x509;

/// A reply from a target that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SCAN-P001 malformed {protocol} data at offset {offset}: {what}")]
pub struct ParseError {
    /// Protocol being parsed (`smb1`, `smb2`, `x224`, `tls`, `x509`, `http`).
    pub protocol: &'static str,
    /// Byte offset at which parsing failed.
    pub offset: usize,
    /// What was expected.
    pub what: &'static str,
}

/// A bounds-checked little/big-endian cursor over untrusted bytes.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    protocol: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(protocol: &'static str, buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            protocol,
        }
    }

    pub(crate) fn err(&self, what: &'static str) -> ParseError {
        ParseError {
            protocol: self.protocol,
            offset: self.pos,
            what,
        }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ParseError> {
        if self.remaining() < n {
            return Err(self.err(what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, ParseError> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn u16le(&mut self, what: &'static str) -> Result<u16, ParseError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u16be(&mut self, what: &'static str) -> Result<u16, ParseError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u24be(&mut self, what: &'static str) -> Result<u32, ParseError> {
        let b = self.take(3, what)?;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }

    pub(crate) fn u32le(&mut self, what: &'static str) -> Result<u32, ParseError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64le(&mut self, what: &'static str) -> Result<u64, ParseError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

/// Decodes UTF-16LE up to the first NUL, lossily.
pub(crate) fn utf16le_z(b: &[u8]) -> (String, usize) {
    let mut units = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        let u = u16::from_le_bytes([b[i], b[i + 1]]);
        i += 2;
        if u == 0 {
            break;
        }
        units.push(u);
    }
    (String::from_utf16_lossy(&units), i)
}

/// Decodes a NUL-terminated single-byte string, lossily.
pub(crate) fn ascii_z(b: &[u8]) -> (String, usize) {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let used = if end < b.len() { end + 1 } else { end };
    (String::from_utf8_lossy(&b[..end]).into_owned(), used)
}
