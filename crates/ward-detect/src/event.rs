//! Event layouts: flattening the three JSON shapes ward receives into one
//! list of `(Sigma field name, value)` pairs.
//!
//! * flat: Sigma field names at the top level (`{"EventID":1,"Image":…}`);
//!   nested objects are also reachable by dotted names (`alert.signature`).
//! * evtx_dump: `{"Event":{"System":{…},"EventData":{…}}}` as produced by the
//!   `evtx` crate; `System` attributes become `Provider_Name`,
//!   `TimeCreated_SystemTime`, …, `EventData`/`UserData` children become
//!   top-level names.
//! * Winlogbeat / ECS: `winlog.event_data.*` become top-level names,
//!   `winlog.event_id` → `EventID`, `winlog.channel` → `Channel`,
//!   `winlog.computer_name` → `Computer`, `winlog.provider_name` →
//!   `Provider_Name`; all other fields stay reachable by their dotted ECS
//!   names (the logsource configuration maps ECS names to Sigma names).

use std::borrow::Cow;

use serde_json::Value;
use smallvec::SmallVec;

/// A flattened event: field names in the order found. The first occurrence
/// of a name wins when looked up.
#[derive(Debug, Default)]
pub struct Flat<'a> {
    pub fields: Vec<(Cow<'a, str>, &'a Value)>,
}

// Nesting bound for the recursive flattening of hostile JSON.
const MAX_DEPTH: usize = 12;

impl<'a> Flat<'a> {
    fn push(&mut self, name: impl Into<Cow<'a, str>>, v: &'a Value) {
        self.fields.push((name.into(), v));
    }

    /// Look a field up by exact name.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.fields
            .iter()
            .find(|(n, _)| n.as_ref() == name)
            .map(|(_, v)| *v)
    }
}

/// Flatten an event in any of the supported layouts.
pub fn flatten(ev: &Value) -> Flat<'_> {
    let mut flat = Flat {
        fields: Vec::with_capacity(48),
    };
    let Value::Object(top) = ev else {
        return flat;
    };
    if let Some(Value::Object(event)) = small_get(top, "Event") {
        flatten_evtx(event, &mut flat);
        // Anything beside "Event" (e.g. an envelope added by a shipper) stays
        // reachable by dotted name.
        for (k, v) in top {
            if k != "Event" {
                flatten_dotted(Cow::Borrowed(k.as_str()), v, &mut flat, 0);
            }
        }
        return flat;
    }
    if let Some(Value::Object(winlog)) = small_get(top, "winlog") {
        flatten_winlog(winlog, &mut flat);
    }
    for (k, v) in top {
        flatten_dotted(Cow::Borrowed(k.as_str()), v, &mut flat, 0);
    }
    flat
}

/// Small-map lookup: the maps of EVTX JSON have one to three keys, where a
/// linear scan beats hashing the key.
fn small_get<'v>(o: &'v serde_json::Map<String, Value>, key: &str) -> Option<&'v Value> {
    if o.len() <= 4 {
        o.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    } else {
        o.get(key)
    }
}

fn text_of(v: &Value) -> &Value {
    match v {
        Value::Object(o) => small_get(o, "#text").unwrap_or(v),
        _ => v,
    }
}

fn flatten_evtx<'a>(event: &'a serde_json::Map<String, Value>, flat: &mut Flat<'a>) {
    if let Some(Value::Object(sys)) = small_get(event, "System") {
        for (k, v) in sys {
            match v {
                Value::Object(o) => {
                    if let Some(t) = small_get(o, "#text") {
                        flat.push(k.as_str(), t);
                    }
                    if let Some(Value::Object(attrs)) = small_get(o, "#attributes") {
                        for (a, av) in attrs {
                            match system_attr_name(k, a) {
                                Some(n) => flat.push(n, av),
                                None => flat.push(format!("{k}_{a}"), av),
                            }
                        }
                    }
                }
                _ => flat.push(k.as_str(), v),
            }
        }
    }
    if let Some(ed) = small_get(event, "EventData") {
        flatten_event_data(ed, flat);
    }
    if let Some(ud) = small_get(event, "UserData") {
        flatten_leaves(ud, flat, 0);
    }
    // Rendering info (message text) from evtx_dump, when present.
    if let Some(Value::Object(ri)) = small_get(event, "RenderingInfo") {
        for (k, v) in ri {
            flat.push(k.as_str(), text_of(v));
        }
    }
}

/// The usual `System` attribute names, without formatting a string per
/// event.
fn system_attr_name(k: &str, a: &str) -> Option<&'static str> {
    Some(match (k, a) {
        ("Provider", "Name") => "Provider_Name",
        ("Provider", "Guid") => "Provider_Guid",
        ("Provider", "EventSourceName") => "Provider_EventSourceName",
        ("TimeCreated", "SystemTime") => "TimeCreated_SystemTime",
        ("Execution", "ProcessID") => "Execution_ProcessID",
        ("Execution", "ThreadID") => "Execution_ThreadID",
        ("Security", "UserID") => "Security_UserID",
        ("Correlation", "ActivityID") => "Correlation_ActivityID",
        ("Correlation", "RelatedActivityID") => "Correlation_RelatedActivityID",
        ("EventID", "Qualifiers") => "EventID_Qualifiers",
        _ => return None,
    })
}

fn flatten_event_data<'a>(ed: &'a Value, flat: &mut Flat<'a>) {
    match ed {
        Value::Object(o) => {
            for (k, v) in o {
                if k == "#attributes" {
                    continue;
                }
                if k == "Data" {
                    match v {
                        // <Data Name="x">v</Data> rendered as objects.
                        Value::Array(items) => {
                            for it in items {
                                let name = it
                                    .get("#attributes")
                                    .and_then(|a| a.get("Name"))
                                    .and_then(Value::as_str);
                                match name {
                                    Some(n) => {
                                        flat.push(n, it.get("#text").unwrap_or(&Value::Null))
                                    }
                                    None => flat.push("Data", text_of(it)),
                                }
                            }
                            continue;
                        }
                        Value::Object(d) if d.contains_key("#attributes") => {
                            if let Some(n) = d
                                .get("#attributes")
                                .and_then(|a| a.get("Name"))
                                .and_then(Value::as_str)
                            {
                                flat.push(n, d.get("#text").unwrap_or(&Value::Null));
                                continue;
                            }
                            flat.push("Data", text_of(v));
                            continue;
                        }
                        _ => {}
                    }
                }
                flat.push(k.as_str(), text_of(v));
            }
        }
        Value::Null => {}
        other => flat.push("EventData", other),
    }
}

/// UserData has one element per provider with arbitrary children: its
/// leaves become top-level names.
fn flatten_leaves<'a>(v: &'a Value, flat: &mut Flat<'a>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    if let Value::Object(o) = v {
        for (k, child) in o {
            if k == "#attributes" {
                continue;
            }
            match child {
                Value::Object(c) if !c.contains_key("#text") => {
                    flatten_leaves(child, flat, depth + 1)
                }
                _ => flat.push(k.as_str(), text_of(child)),
            }
        }
    }
}

fn flatten_winlog<'a>(w: &'a serde_json::Map<String, Value>, flat: &mut Flat<'a>) {
    for (k, name) in [
        ("event_id", "EventID"),
        ("channel", "Channel"),
        ("computer_name", "Computer"),
        ("provider_name", "Provider_Name"),
        ("record_id", "EventRecordID"),
        ("task", "Task"),
        ("opcode", "Opcode"),
    ] {
        if let Some(v) = w.get(k) {
            flat.push(name, v);
        }
    }
    if let Some(Value::Object(ed)) = w.get("event_data") {
        for (k, v) in ed {
            flat.push(k.as_str(), v);
        }
    }
    if let Some(ud) = w.get("user_data") {
        flatten_leaves(ud, flat, 0);
    }
}

fn flatten_dotted<'a>(prefix: Cow<'a, str>, v: &'a Value, flat: &mut Flat<'a>, depth: usize) {
    match v {
        Value::Object(o) if depth < MAX_DEPTH => {
            for (k, child) in o {
                flatten_dotted(Cow::Owned(format!("{prefix}.{k}")), child, flat, depth + 1);
            }
        }
        Value::Object(_) => {}
        _ => flat.push(prefix, v),
    }
}

/// The text forms of a JSON value for matching: strings as they are,
/// numbers and booleans rendered, arrays element by element; `null` and
/// objects have none.
pub fn texts(v: &Value) -> SmallVec<[Cow<'_, str>; 1]> {
    let mut out = SmallVec::new();
    push_texts(v, &mut out, true);
    out
}

fn push_texts<'v>(v: &'v Value, out: &mut SmallVec<[Cow<'v, str>; 1]>, top: bool) {
    match v {
        Value::String(s) => out.push(Cow::Borrowed(s.as_str())),
        Value::Number(n) => out.push(Cow::Owned(n.to_string())),
        Value::Bool(b) => out.push(Cow::Borrowed(if *b { "true" } else { "false" })),
        // One level of arrays: nested arrays have no Sigma meaning.
        Value::Array(a) if top => a.iter().for_each(|x| push_texts(x, out, false)),
        Value::Array(_) | Value::Null | Value::Object(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn three_layouts_yield_sigma_names() {
        let flat = json!({"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Image":"C:\\x.exe"});
        let f = flatten(&flat);
        assert_eq!(f.get("Image"), Some(&json!("C:\\x.exe")));

        let evtx = json!({"Event":{"System":{"EventID":{"#text":4688,"#attributes":{"Qualifiers":""}},
            "Channel":"Security","Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing"}}},
            "EventData":{"NewProcessName":"C:\\a.exe"}}});
        let f = flatten(&evtx);
        assert_eq!(f.get("EventID"), Some(&json!(4688)));
        assert_eq!(
            f.get("Provider_Name"),
            Some(&json!("Microsoft-Windows-Security-Auditing"))
        );
        assert_eq!(f.get("NewProcessName"), Some(&json!("C:\\a.exe")));

        let wl = json!({"winlog":{"channel":"Security","event_id":"4624","event_data":{"LogonType":"3"}},
                        "process":{"command_line":"x"}});
        let f = flatten(&wl);
        assert_eq!(f.get("EventID"), Some(&json!("4624")));
        assert_eq!(f.get("LogonType"), Some(&json!("3")));
        assert_eq!(f.get("process.command_line"), Some(&json!("x")));
    }

    #[test]
    fn data_arrays_and_user_data() {
        let ev = json!({"Event":{"System":{"EventID":1102},
            "EventData":{"Data":[{"#attributes":{"Name":"A"},"#text":"1"},{"#text":"anon"}]},
            "UserData":{"LogFileCleared":{"SubjectUserName":"bob"}}}});
        let f = flatten(&ev);
        assert_eq!(f.get("A"), Some(&json!("1")));
        assert_eq!(f.get("Data"), Some(&json!("anon")));
        assert_eq!(f.get("SubjectUserName"), Some(&json!("bob")));
    }

    #[test]
    fn texts_render_scalars() {
        assert_eq!(texts(&json!(4688)).to_vec(), vec!["4688"]);
        assert_eq!(
            texts(&json!(["a", 1, null, ["x"]])).to_vec(),
            vec!["a", "1"]
        );
        assert!(texts(&json!(null)).is_empty());
    }
}
