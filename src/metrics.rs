//! A small process-wide metrics registry, rendered in the Prometheus text format by the
//! daemon's `/metrics`. Connectors count their work through the `register_*` functions;
//! the daemon records passes. No client library: the format is a few lines of text.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric name with its help text.
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
}

const fn family(name: &'static str, kind: Kind, help: &'static str) -> Family {
    Family { name, help, kind }
}

pub const BUILD_INFO: Family = family(
    "refsync_build_info",
    Kind::Gauge,
    "Always 1; the version label tells which refsync runs.",
);
pub const PASSES: Family = family(
    "refsync_passes_total",
    Kind::Counter,
    "Passes ended, by job and outcome (succeeded, failed, interrupted).",
);
pub const PASS_DURATION: Family = family(
    "refsync_pass_duration_seconds",
    Kind::Histogram,
    "How long passes took, by job.",
);
pub const LAST_SUCCESS: Family = family(
    "refsync_last_success_timestamp_seconds",
    Kind::Gauge,
    "Unix time at which the last successful pass of a job ended.",
);
pub const PASS_RECORDS: Family = family(
    "refsync_pass_records_total",
    Kind::Counter,
    "CRM records handled by passes, by job and result (read, matched_auto, matched_review, not_found, ambiguous, lookup_failed, inactive, unchanged: left as they stood).",
);
pub const PASS_CHANGES: Family = family(
    "refsync_pass_changes_total",
    Kind::Counter,
    "Changes made by passes, by job and action (proposed, applied, conflict, failed).",
);
pub const RECORDS: Family = family(
    "refsync_records",
    Kind::Gauge,
    "CRM records in the store by job and match status after the last pass (in_sync, different, not_found, ...).",
);
pub const CHANGES: Family = family(
    "refsync_changes",
    Kind::Gauge,
    "Changes in the store by job and status (proposed = the review queue, applied, rejected, ...).",
);
pub const REGISTER_REQUESTS: Family = family(
    "refsync_register_requests_total",
    Kind::Counter,
    "Requests sent to a reference register, by register.",
);
pub const REGISTER_RETRIES: Family = family(
    "refsync_register_retries_total",
    Kind::Counter,
    "Register requests repeated after a failure, by register.",
);
pub const REGISTER_RATE_LIMITED: Family = family(
    "refsync_register_rate_limited_total",
    Kind::Counter,
    "Register answers with HTTP 429 (too many requests), by register.",
);
pub const REGISTER_CACHE_HITS: Family = family(
    "refsync_register_cache_hits_total",
    Kind::Counter,
    "Register look-ups answered from the cache in the store, by register.",
);
pub const CONFIG_RELOADS: Family = family(
    "refsync_config_reloads_total",
    Kind::Counter,
    "Config reloads on SIGHUP, by result (applied, rejected).",
);

/// Every family, in the order `/metrics` prints them.
pub const REPORTS: Family = family(
    "refsync_reports_total",
    Kind::Counter,
    "Scheduled data-quality reports, by job and result (written, failed).",
);

const FAMILIES: [&Family; 14] = [
    &BUILD_INFO,
    &PASSES,
    &PASS_DURATION,
    &LAST_SUCCESS,
    &PASS_RECORDS,
    &PASS_CHANGES,
    &RECORDS,
    &CHANGES,
    &REGISTER_REQUESTS,
    &REGISTER_RETRIES,
    &REGISTER_RATE_LIMITED,
    &REGISTER_CACHE_HITS,
    &CONFIG_RELOADS,
    &REPORTS,
];

/// Upper bounds of the pass duration buckets, in seconds: a demo pass to a night-long sweep.
const DURATION_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0,
];

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Series {
    values: BTreeMap<(&'static str, Labels), f64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
}

#[derive(Debug, Default)]
pub struct Registry {
    series: Mutex<Series>,
}

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

impl Registry {
    fn with<T>(&self, f: impl FnOnce(&mut Series) -> T) -> T {
        let mut guard = self
            .series
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    pub fn inc(&self, family: &Family, pairs: &[(&'static str, &str)], by: u64) {
        debug_assert_eq!(family.kind, Kind::Counter);
        self.with(|s| {
            *s.values.entry((family.name, labels(pairs))).or_default() += by as f64;
        });
    }

    pub fn set(&self, family: &Family, pairs: &[(&'static str, &str)], value: f64) {
        debug_assert_eq!(family.kind, Kind::Gauge);
        self.with(|s| {
            s.values.insert((family.name, labels(pairs)), value);
        });
    }

    /// Replaces every series of a gauge family, so values that vanished read as gone.
    pub fn replace(&self, family: &Family, rows: Vec<(Vec<(&'static str, String)>, f64)>) {
        debug_assert_eq!(family.kind, Kind::Gauge);
        self.with(|s| {
            s.values.retain(|(name, _), _| *name != family.name);
            for (labels, value) in rows {
                s.values.insert((family.name, labels), value);
            }
        });
    }

    pub fn observe(&self, family: &Family, pairs: &[(&'static str, &str)], value: f64) {
        debug_assert_eq!(family.kind, Kind::Histogram);
        self.with(|s| {
            let h = s
                .histograms
                .entry((family.name, labels(pairs)))
                .or_default();
            for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
                if value <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += value;
        });
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.with(|s| {
            for family in FAMILIES {
                let kind = match family.kind {
                    Kind::Counter => "counter",
                    Kind::Gauge => "gauge",
                    Kind::Histogram => "histogram",
                };
                let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
                let _ = writeln!(out, "# TYPE {} {kind}", family.name);
                for ((_, labels), value) in s.values.iter().filter(|((n, _), _)| *n == family.name)
                {
                    let _ = writeln!(
                        out,
                        "{}{} {value}",
                        family.name,
                        render_labels(labels, None)
                    );
                }
                for ((_, labels), h) in s.histograms.iter().filter(|((n, _), _)| *n == family.name)
                {
                    for (bound, count) in DURATION_BUCKETS.iter().zip(h.counts) {
                        let le = bound.to_string();
                        let _ = writeln!(
                            out,
                            "{}_bucket{} {count}",
                            family.name,
                            render_labels(labels, Some(&le))
                        );
                    }
                    let all = render_labels(labels, Some("+Inf"));
                    let plain = render_labels(labels, None);
                    let _ = writeln!(out, "{}_bucket{all} {}", family.name, h.count);
                    let _ = writeln!(out, "{}_sum{plain} {}", family.name, h.sum);
                    let _ = writeln!(out, "{}_count{plain} {}", family.name, h.count);
                }
            }
        });
        out
    }
}

fn render_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The registry of this process.
pub fn global() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let r = Registry::default();
        r.set(&BUILD_INFO, &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
        r
    })
}

/// A request sent to `register` (count every attempt, retries included).
pub fn register_request(register: &str) {
    global().inc(&REGISTER_REQUESTS, &[("register", register)], 1);
}

/// A request to `register` repeated after a failure.
pub fn register_retry(register: &str) {
    global().inc(&REGISTER_RETRIES, &[("register", register)], 1);
}

/// `register` answered 429 Too Many Requests.
pub fn register_rate_limited(register: &str) {
    global().inc(&REGISTER_RATE_LIMITED, &[("register", register)], 1);
}

/// A look-up in `register` answered from the cache, without a request.
pub fn register_cache_hit(register: &str) {
    global().inc(&REGISTER_CACHE_HITS, &[("register", register)], 1);
}

/// The process's peak resident memory (VmHWM) in MiB, where the OS tells it (Linux).
pub fn peak_memory_mib() -> Option<u64> {
    status_kib("VmHWM:").map(|kib| kib / 1024)
}

/// The process's resident memory now (VmRSS) in bytes, where the OS tells it (Linux).
pub fn resident_memory_bytes() -> Option<u64> {
    status_kib("VmRSS:").map(|kib| kib * 1024)
}

/// A `/proc/self/status` line's figure in KiB.
fn status_kib(key: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_histograms_with_help_and_type() {
        let r = Registry::default();
        r.inc(&PASSES, &[("job", "orgs"), ("outcome", "succeeded")], 1);
        r.inc(&PASSES, &[("job", "orgs"), ("outcome", "succeeded")], 2);
        r.set(&LAST_SUCCESS, &[("job", "orgs")], 1_800_000_000.0);
        r.observe(&PASS_DURATION, &[("job", "orgs")], 12.5);
        r.inc(&REGISTER_REQUESTS, &[("register", "gleif \"eu\"")], 1);
        let text = r.render();
        assert!(
            text.contains("# TYPE refsync_passes_total counter\n"),
            "{text}"
        );
        assert!(text.contains("refsync_passes_total{job=\"orgs\",outcome=\"succeeded\"} 3\n"));
        assert!(text.contains("refsync_last_success_timestamp_seconds{job=\"orgs\"} 1800000000\n"));
        assert!(text.contains("refsync_pass_duration_seconds_bucket{job=\"orgs\",le=\"5\"} 0\n"));
        assert!(text.contains("refsync_pass_duration_seconds_bucket{job=\"orgs\",le=\"15\"} 1\n"));
        assert!(text.contains("refsync_pass_duration_seconds_bucket{job=\"orgs\",le=\"+Inf\"} 1\n"));
        assert!(text.contains("refsync_pass_duration_seconds_sum{job=\"orgs\"} 12.5\n"));
        assert!(text.contains("refsync_pass_duration_seconds_count{job=\"orgs\"} 1\n"));
        assert!(text.contains("refsync_register_requests_total{register=\"gleif \\\"eu\\\"\"} 1\n"));
        // Every family is announced even before it has a value.
        assert!(text.contains("# TYPE refsync_register_cache_hits_total counter\n"));
    }

    #[test]
    fn replace_drops_series_that_vanished() {
        let r = Registry::default();
        r.replace(
            &RECORDS,
            vec![(
                vec![("job", "a".into()), ("status", "different".into())],
                4.0,
            )],
        );
        r.replace(
            &RECORDS,
            vec![(vec![("job", "a".into()), ("status", "in_sync".into())], 4.0)],
        );
        let text = r.render();
        assert!(!text.contains("status=\"different\""), "{text}");
        assert!(text.contains("refsync_records{job=\"a\",status=\"in_sync\"} 4\n"));
    }
}
