//! Binary Windows `.evtx` files (bulk back-filling): every record is
//! rendered to evtx_dump JSON by the `evtx` crate and parsed exactly as a
//! forwarded evtx_dump record ([`crate::windows::parse_evtx_json`], Sysmon
//! included). A record that cannot be rendered becomes a raw event; a file
//! that is not EVTX at all is an error.

use ward_event::Event;

use crate::{codes, windows, ParseError};

/// `ElfFile\0`, the EVTX file signature.
pub const EVTX_MAGIC: &[u8; 8] = b"ElfFile\0";

/// Parse a whole `.evtx` file. Records that fail to render are returned as
/// raw events (code `WF0605`) so nothing is dropped.
pub fn parse_evtx_file(data: Vec<u8>) -> Result<Vec<Event>, ParseError> {
    if data.len() < 8 || &data[..8] != EVTX_MAGIC {
        return Err(ParseError::new(
            codes::EVTX_FILE,
            0,
            "not an EVTX file (missing ElfFile signature)",
        ));
    }
    let mut parser = evtx::EvtxParser::from_buffer(data)
        .map_err(|e| ParseError::new(codes::EVTX_FILE, 0, format!("EVTX header: {e}")))?;
    let mut out = Vec::new();
    for (n, rec) in parser.records_json().enumerate() {
        match rec {
            Ok(r) => {
                let ev = match windows::parse_evtx_json(&r.data) {
                    Ok(ev) => ev,
                    Err(e) => Event::raw("windows.evtx", r.data, e.code, e.message),
                };
                out.push(ev);
            }
            Err(e) => out.push(Event::raw(
                "windows.evtx",
                String::new(),
                codes::EVTX_RECORD,
                format!("record {n}: {e}"),
            )),
        }
    }
    Ok(out)
}
