//! Internal metrics, in the spirit of Vector's internal events: every stage counts what it
//! received, what it passed on and what it refused or dropped, by reason, so that nothing is
//! lost silently. [`Registry::render`] writes the Prometheus text exposition format served at
//! `/metrics`.
//!
//! ```
//! let registry = ward_telemetry::Registry::default();
//! let refused = registry.counter("ward_ingest_refused_total", "Batches refused", &[("reason", "malformed_line")]);
//! refused.inc();
//! assert!(registry.render().contains("ward_ingest_refused_total{reason=\"malformed_line\"} 1"));
//! ```

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A monotonically increasing count. Cloning shares the count.
#[derive(Clone, Default, Debug)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

type GaugeFn = Box<dyn Fn() -> f64 + Send + Sync>;

struct Series {
    name: String,
    help: String,
    labels: String,
    value: Value,
}

enum Value {
    Counter(Counter),
    Gauge(GaugeFn),
}

#[derive(Default)]
pub struct Registry {
    series: Mutex<Vec<Series>>,
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let escaped = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{escaped}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

impl Registry {
    /// Registers (or returns the existing) counter with this name and labels.
    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Counter {
        let labels = render_labels(labels);
        let mut series = self.lock();
        for s in series.iter() {
            if s.name == name && s.labels == labels {
                if let Value::Counter(c) = &s.value {
                    return c.clone();
                }
            }
        }
        let c = Counter::default();
        series.push(Series {
            name: name.into(),
            help: help.into(),
            labels,
            value: Value::Counter(c.clone()),
        });
        c
    }

    /// Registers a gauge read when metrics are rendered.
    pub fn gauge_fn(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        read: impl Fn() -> f64 + Send + Sync + 'static,
    ) {
        self.lock().push(Series {
            name: name.into(),
            help: help.into(),
            labels: render_labels(labels),
            value: Value::Gauge(Box::new(read)),
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Series>> {
        match self.series.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let series = self.lock();
        let mut order: Vec<&Series> = series.iter().collect();
        order.sort_by(|a, b| a.name.cmp(&b.name).then(a.labels.cmp(&b.labels)));
        let mut out = String::new();
        let mut last_name = "";
        for s in order {
            if s.name != last_name {
                let kind = match s.value {
                    Value::Counter(_) => "counter",
                    Value::Gauge(_) => "gauge",
                };
                let _ = writeln!(out, "# HELP {} {}", s.name, s.help);
                let _ = writeln!(out, "# TYPE {} {kind}", s.name);
                last_name = &s.name;
            }
            match &s.value {
                Value::Counter(c) => {
                    let _ = writeln!(out, "{}{} {}", s.name, s.labels, c.get());
                }
                Value::Gauge(f) => {
                    let _ = writeln!(out, "{}{} {}", s.name, s.labels, f());
                }
            }
        }
        out
    }

    /// Current value of a counter, for status pages and tests.
    pub fn counter_value(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        let labels = render_labels(labels);
        self.lock().iter().find_map(|s| match &s.value {
            Value::Counter(c) if s.name == name && s.labels == labels => Some(c.get()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_help_type_and_series_once_per_name() {
        let r = Registry::default();
        r.counter("a_total", "A things", &[("reason", "x")]).add(2);
        r.counter("a_total", "A things", &[("reason", "y\"q")])
            .inc();
        r.counter("a_total", "A things", &[("reason", "x")]).inc();
        r.gauge_fn("b", "B level", &[], || 1.5);
        let text = r.render();
        assert_eq!(text.matches("# TYPE a_total counter").count(), 1);
        assert!(text.contains("a_total{reason=\"x\"} 3"), "{text}");
        assert!(text.contains("a_total{reason=\"y\\\"q\"} 1"), "{text}");
        assert!(text.contains("# TYPE b gauge\nb 1.5"), "{text}");
        assert_eq!(r.counter_value("a_total", &[("reason", "x")]), Some(3));
    }
}
