//! The on-disk record format and the builder that encodes batches off the writer thread.

/// `u32 body_len` + `u32 crc32c`.
pub const RECORD_HEADER_BYTES: usize = 8;

/// One event as the log holds it: who sent it, when it arrived, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub offset: u64,
    pub received_at_ms: i64,
    pub org: String,
    pub payload: Vec<u8>,
}

/// Encoded records ready to be written as they are. Building (and checksumming) happens in the
/// sender's task so the single writer thread only copies bytes to the file.
#[derive(Debug, Default)]
pub struct EncodedBatch {
    pub(crate) bytes: Vec<u8>,
    pub(crate) count: u64,
}

impl EncodedBatch {
    pub fn len(&self) -> u64 {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }
}

#[derive(Debug, Default)]
pub struct BatchBuilder {
    batch: EncodedBatch,
}

impl BatchBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(bytes: usize) -> Self {
        BatchBuilder {
            batch: EncodedBatch {
                bytes: Vec::with_capacity(bytes),
                count: 0,
            },
        }
    }

    /// Appends one record. `org` longer than 255 bytes is cut: ODS codes are at most 10.
    pub fn push(&mut self, org: &str, received_at_ms: i64, payload: &[u8]) {
        let org = &org.as_bytes()[..org.len().min(255)];
        let body_len = 8 + 1 + org.len() + payload.len();
        let buf = &mut self.batch.bytes;
        let start = buf.len();
        buf.reserve(RECORD_HEADER_BYTES + body_len);
        buf.extend_from_slice(&(body_len as u32).to_le_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&received_at_ms.to_le_bytes());
        buf.push(org.len() as u8);
        buf.extend_from_slice(org);
        buf.extend_from_slice(payload);
        let crc = crc32c::crc32c(&buf[start + RECORD_HEADER_BYTES..]);
        buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        self.batch.count += 1;
    }

    pub fn len(&self) -> u64 {
        self.batch.count
    }

    pub fn is_empty(&self) -> bool {
        self.batch.count == 0
    }

    pub fn finish(self) -> EncodedBatch {
        self.batch
    }
}

/// Why a record could not be decoded. Used by recovery to find the torn tail.
#[derive(PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Fewer bytes than the header or the body announce: the end of the data, or a torn write.
    Short,
    ChecksumMismatch,
    Malformed(&'static str),
}

impl std::fmt::Debug for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            DecodeError::Short => "record shorter than its header announces",
            DecodeError::ChecksumMismatch => "checksum mismatch",
            DecodeError::Malformed(why) => why,
        };
        f.write_str(s)
    }
}

/// Decodes the body of a record whose checksum has been verified.
pub(crate) fn decode_body(offset: u64, body: &[u8]) -> Result<LogRecord, DecodeError> {
    if body.len() < 9 {
        return Err(DecodeError::Malformed("body shorter than its fixed fields"));
    }
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&body[..8]);
    let org_len = body[8] as usize;
    if body.len() < 9 + org_len {
        return Err(DecodeError::Malformed(
            "organisation code runs past the body",
        ));
    }
    let org = std::str::from_utf8(&body[9..9 + org_len])
        .map_err(|_| DecodeError::Malformed("organisation code is not UTF-8"))?;
    Ok(LogRecord {
        offset,
        received_at_ms: i64::from_le_bytes(ts),
        org: org.to_string(),
        payload: body[9 + org_len..].to_vec(),
    })
}

/// Reads the header at the start of `buf`: (body_len, crc).
pub(crate) fn parse_header(buf: &[u8]) -> Result<(usize, u32), DecodeError> {
    if buf.len() < RECORD_HEADER_BYTES {
        return Err(DecodeError::Short);
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    Ok((len, crc))
}

pub(crate) fn verify(body: &[u8], crc: u32) -> Result<(), DecodeError> {
    if crc32c::crc32c(body) == crc {
        Ok(())
    } else {
        Err(DecodeError::ChecksumMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_record() {
        let mut b = BatchBuilder::new();
        b.push("A81001", -5, b"{}");
        let batch = b.finish();
        let (len, crc) = parse_header(&batch.bytes).unwrap();
        let body = &batch.bytes[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len];
        verify(body, crc).unwrap();
        let rec = decode_body(7, body).unwrap();
        assert_eq!(rec.offset, 7);
        assert_eq!(rec.org, "A81001");
        assert_eq!(rec.received_at_ms, -5);
        assert_eq!(rec.payload, b"{}");
    }

    #[test]
    fn a_flipped_bit_fails_the_checksum() {
        let mut b = BatchBuilder::new();
        b.push("RJ1", 1, b"{\"a\":1}");
        let mut bytes = b.finish().bytes;
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let (len, crc) = parse_header(&bytes).unwrap();
        assert_eq!(
            verify(&bytes[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len], crc),
            Err(DecodeError::ChecksumMismatch)
        );
    }
}
