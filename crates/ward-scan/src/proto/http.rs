//! HTTP/1.x requests and response heads, and service banners.

use super::ParseError;

/// A `GET` request for `path` with the given `Host`.
pub fn get_request(host: &str, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ward-scan/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )
    .into_bytes()
}

/// The head of an HTTP response and the start of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body bytes received (possibly truncated).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The HTML `<title>`, if the body holds one.
    pub fn title(&self) -> Option<String> {
        let body = String::from_utf8_lossy(&self.body);
        let lower = body.to_ascii_lowercase();
        let start = lower.find("<title")?;
        let open_end = lower[start..].find('>')? + start + 1;
        let close = lower[open_end..].find("</title")? + open_end;
        let t = body.get(open_end..close)?.trim();
        (!t.is_empty()).then(|| t.chars().take(200).collect())
    }
}

/// Parses an HTTP/1.x response head (and whatever body follows it).
pub fn parse_response(buf: &[u8]) -> Result<HttpResponse, ParseError> {
    let e = |offset, what| ParseError {
        protocol: "http",
        offset,
        what,
    };
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, p + 4))
        .or_else(|| {
            buf.windows(2)
                .position(|w| w == b"\n\n")
                .map(|p| (p, p + 2))
        })
        .ok_or(e(buf.len(), "end of the response head"))?;
    let head = String::from_utf8_lossy(&buf[..head_end.0]);
    let mut lines = head.split('\n').map(|l| l.trim_end_matches('\r'));
    let status_line = lines.next().ok_or(e(0, "a status line"))?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/") {
        return Err(e(0, "HTTP/ version in the status line"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or(e(version.len() + 1, "a three-digit status code"))?;
    let reason = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        if headers.len() > 200 {
            break;
        }
    }
    Ok(HttpResponse {
        version: version.to_string(),
        status,
        reason,
        headers,
        body: buf[head_end.1..].to_vec(),
    })
}

/// A banner as printable text: control bytes escaped, trimmed, at most 512
/// characters. Banners are evidence; they must stay readable and safe to
/// show in a terminal or a web page.
pub fn banner_text(b: &[u8]) -> String {
    let mut s = String::new();
    for ch in String::from_utf8_lossy(b).chars() {
        if s.len() >= 512 {
            break;
        }
        match ch {
            '\r' => {}
            '\n' => s.push_str("\\n"),
            c if c.is_control() => s.push_str(&format!("\\x{:02x}", c as u32)),
            c => s.push(c),
        }
    }
    let t = s.trim_end_matches("\\n").trim();
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_head_and_title() {
        let r = parse_response(
            b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11\r\n\r\n<html><TITLE>phpMyAdmin</TITLE>",
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("server"), Some("SimpleHTTP/0.6 Python/3.11"));
        assert_eq!(r.title().as_deref(), Some("phpMyAdmin"));
        assert!(parse_response(b"SSH-2.0-x\r\n\r\n").is_err());
        assert_eq!(banner_text(b"220 ftp\r\n\x07"), "220 ftp\\n\\x07");
    }
}
