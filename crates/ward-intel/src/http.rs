//! Bounded HTTP body reads: a feed or peer that streams without end must not exhaust
//! memory.

use crate::error::{IntelError, Result};

/// Largest response body the clients accept by default (NVD pages of 2,000 records are
/// ~30 MB; TAXII pages far less).
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// Reads a response body, failing once it exceeds `max` bytes.
pub async fn read_body(mut resp: reqwest::Response, url: &str, max: usize) -> Result<Vec<u8>> {
    if resp.content_length().is_some_and(|n| n as usize > max) {
        return Err(IntelError::Http {
            url: url.to_string(),
            message: format!("body larger than {max} bytes"),
        });
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| IntelError::Http {
        url: url.to_string(),
        message: e.to_string(),
    })? {
        if out.len() + chunk.len() > max {
            return Err(IntelError::Http {
                url: url.to_string(),
                message: format!("body larger than {max} bytes"),
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
