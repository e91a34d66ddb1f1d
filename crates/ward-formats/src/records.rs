//! Split an uploaded file's text into records, for bulk back-filling:
//! a JSON array, a stream of JSON values (JSON Lines, or pretty-printed
//! objects one after another as `evtx_dump` writes them), or text lines.
//! Nothing is dropped: if a JSON stream breaks, the rest of the text is
//! returned as lines, each of which will become a raw event if it does not
//! parse.

use serde_json::value::RawValue;

/// Split `text` into records (borrowed slices, without line terminators).
pub fn split_records(text: &str) -> Vec<&str> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let base = text.len() - trimmed.len();
    match trimmed.as_bytes().first() {
        Some(b'[') => {
            if let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(trimmed) {
                return items.into_iter().map(RawValue::get).collect();
            }
            lines(text)
        }
        Some(b'{') => {
            let mut out = Vec::new();
            let mut stream = serde_json::Deserializer::from_str(trimmed).into_iter::<&RawValue>();
            loop {
                match stream.next() {
                    Some(Ok(v)) => out.push(v.get()),
                    Some(Err(_)) => {
                        // Resume at the start of the line that broke.
                        let at = base + stream.byte_offset();
                        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                        out.extend(lines(&text[line_start.max(base)..]));
                        return out;
                    }
                    None => return out,
                }
            }
        }
        _ => lines(text),
    }
}

fn lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(split_records("a\r\n\nb\n"), vec!["a", "b"]);
        assert_eq!(
            split_records("{\"a\":1}\n{\"b\":2}\n"),
            vec!["{\"a\":1}", "{\"b\":2}"]
        );
        let pretty = "{\n  \"Event\": {\n    \"x\": 1\n  }\n}\n{\n  \"Event\": {}\n}\n";
        let r = split_records(pretty);
        assert_eq!(r.len(), 2);
        assert!(r[0].contains("\"x\": 1"));
        assert_eq!(
            split_records("[{\"a\":1}, {\"b\":2}]"),
            vec!["{\"a\":1}", "{\"b\":2}"]
        );
    }

    #[test]
    fn broken_json_keeps_the_rest_as_lines() {
        let r = split_records("{\"a\":1}\n{\"b\":\nnot json\n{\"c\":3}\n");
        assert_eq!(r[0], "{\"a\":1}");
        assert!(r.contains(&"not json"));
        assert!(r.contains(&"{\"c\":3}"));
    }
}
