//! Counters for `GET /metrics`, in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Request counts and seconds of one (method, route), by status.
type ByStatus = BTreeMap<u16, (u64, f64)>;

/// Request counts and times by (method, route, status), and a few server-wide counters.
#[derive(Default)]
pub struct Metrics {
    /// Requests answered and the seconds they took, by method, then route, then status
    /// (so that counting one allocates only for a key not seen before).
    requests: Mutex<BTreeMap<String, BTreeMap<String, ByStatus>>>,
    pub dropped_subscribers: AtomicU64,
    pub refused_connections: AtomicU64,
    pub open_connections: AtomicU64,
}

impl Metrics {
    /// Counts one answered request.
    pub fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let routes = match requests.get_mut(method) {
            Some(routes) => routes,
            None => requests.entry(method.to_string()).or_default(),
        };
        let statuses = match routes.get_mut(route) {
            Some(statuses) => statuses,
            None => routes.entry(route.to_string()).or_default(),
        };
        let entry = statuses.entry(status).or_insert((0, 0.0));
        entry.0 += 1;
        entry.1 += seconds;
    }

    /// Every (method, route, status) counted, in that order, with its count and seconds.
    fn each(
        requests: &BTreeMap<String, BTreeMap<String, ByStatus>>,
    ) -> impl Iterator<Item = (&str, &str, u16, u64, f64)> {
        requests.iter().flat_map(|(method, routes)| {
            routes.iter().flat_map(move |(route, statuses)| {
                statuses.iter().map(move |(status, (count, seconds))| {
                    (method.as_str(), route.as_str(), *status, *count, *seconds)
                })
            })
        })
    }

    /// The text exposition; `gauges` are added as they are.
    pub fn render(&self, gauges: &[(&str, &str, u64)]) -> String {
        let mut out = String::new();
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        out.push_str("# HELP arl_http_requests_total Requests answered, by method, route and status.\n# TYPE arl_http_requests_total counter\n");
        for (method, route, status, count, _) in Metrics::each(&requests) {
            let _ = writeln!(
                out,
                "arl_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str("# HELP arl_http_request_seconds_total Time spent answering (until the response's head), by method, route and status.\n# TYPE arl_http_request_seconds_total counter\n");
        for (method, route, status, _, seconds) in Metrics::each(&requests) {
            let _ = writeln!(
                out,
                "arl_http_request_seconds_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {seconds}"
            );
        }
        drop(requests);
        let counters = [
            (
                "arl_dropped_subscribers_total",
                "Subscribers dropped for not reading.",
                self.dropped_subscribers.load(Ordering::Relaxed),
            ),
            (
                "arl_refused_connections_total",
                "Connections refused over --connections-max.",
                self.refused_connections.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let open = self.open_connections.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP arl_open_connections Connections open now.\n# TYPE arl_open_connections gauge\narl_open_connections {open}");
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}
