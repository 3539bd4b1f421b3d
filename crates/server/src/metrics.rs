//! Prometheus metrics of one node: requests by route template and status with their latency,
//! the DEK cache, and re-encryption jobs. They are node-wide figures across every tenant, so
//! they are served on a listener of their own (`serve --metrics-listen`), not on the API's port.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use keyward_secrets::OperationStats;

use crate::state::SharedState;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// The route of a request no route matched (one series for all, whatever the path).
const UNMATCHED: &str = "unmatched";

/// One (route, method, status) series: a count, a sum and a histogram.
#[derive(Default)]
struct Series {
    count: AtomicU64,
    sum_micros: AtomicU64,
    /// Per bucket, not cumulative (summed when rendered).
    buckets: [AtomicU64; BUCKETS.len()],
}

type ByRoute = HashMap<Box<str>, HashMap<(Method, u16), Arc<Series>>>;

/// An instance's requests by method and route template (instances with a `metrics` policy).
type ByInstance = HashMap<String, HashMap<(Method, Box<str>), Arc<AtomicU64>>>;

/// The request metrics of this node.
#[derive(Default)]
pub struct Metrics {
    requests: RwLock<ByRoute>,
    key_event_lag: Series,
    instances: RwLock<ByInstance>,
}

impl Series {
    fn observe(&self, took: Duration) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The histogram's lines for `name` with `labels` (none when empty).
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

impl Metrics {
    /// Counts one request of `instance`, whose `metrics` instance policy is on.
    pub fn count_instance_request(&self, instance: &str, method: &Method, route: &str) {
        {
            let map = self
                .instances
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(counter) = map
                .get(instance)
                .and_then(|m| m.get(&(method.clone(), route.into())))
            {
                counter.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut map = self
            .instances
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(instance.to_owned())
            .or_default()
            .entry((method.clone(), route.into()))
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    fn render_instances(&self, out: &mut String) {
        let map = self
            .instances
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        header(
            out,
            "keyward_instance_requests_total",
            "counter",
            "KMS requests of the instances whose metrics policy is on, by method and route template.",
        );
        let mut rows: Vec<(&str, &str, &str, u64)> = map
            .iter()
            .flat_map(|(instance, m)| {
                m.iter().map(move |((method, route), n)| {
                    (
                        instance.as_str(),
                        method.as_str(),
                        &**route,
                        n.load(Ordering::Relaxed),
                    )
                })
            })
            .collect();
        rows.sort_unstable();
        for (instance, method, route, n) in rows {
            let _ = writeln!(
                out,
                "keyward_instance_requests_total{{instance=\"{}\",method=\"{method}\",route=\"{}\"}} {n}",
                escape(instance),
                escape(route)
            );
        }
    }

    /// Counts one key event heard by this node, `lag` after it was committed (on this node or
    /// another).
    pub fn observe_key_event(&self, lag: Duration) {
        self.key_event_lag.observe(lag);
    }

    /// Counts one answered request.
    pub fn observe(&self, method: &Method, route: &str, status: StatusCode, took: Duration) {
        self.series(method, route, status.as_u16()).observe(took);
    }

    fn series(&self, method: &Method, route: &str, status: u16) -> Arc<Series> {
        let key = (method.clone(), status);
        {
            let map = self.requests.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(series) = map.get(route).and_then(|m| m.get(&key)) {
                return Arc::clone(series);
            }
        }
        let mut map = self
            .requests
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(route.into()).or_default().entry(key).or_default())
    }

    fn render_requests(&self, out: &mut String) {
        let map = self.requests.read().unwrap_or_else(PoisonError::into_inner);
        let mut rows: Vec<(&str, &Method, u16, &Series)> = map
            .iter()
            .flat_map(|(route, m)| {
                m.iter()
                    .map(move |((method, status), s)| (&**route, method, *status, &**s))
            })
            .collect();
        rows.sort_by(|a, b| (a.0, a.1.as_str(), a.2).cmp(&(b.0, b.1.as_str(), b.2)));
        header(
            out,
            "keyward_http_requests_total",
            "counter",
            "Requests answered, by method, route template and status.",
        );
        for (route, method, status, s) in &rows {
            let _ = writeln!(
                out,
                "keyward_http_requests_total{{{}}} {}",
                labels(method, route, *status),
                s.count.load(Ordering::Relaxed)
            );
        }
        header(
            out,
            "keyward_http_request_duration_seconds",
            "histogram",
            "Time from the request's arrival to its answer, by method, route template and status.",
        );
        for (route, method, status, s) in &rows {
            s.render(
                out,
                "keyward_http_request_duration_seconds",
                &labels(method, route, *status),
            );
        }
        header(
            out,
            "keyward_key_event_lag_seconds",
            "histogram",
            "Time from a key event's commit to this node hearing of it (and dropping what it caches).",
        );
        self.key_event_lag
            .render(out, "keyward_key_event_lag_seconds", "");
    }
}

fn labels(method: &Method, route: &str, status: u16) -> String {
    format!(
        "method=\"{}\",route=\"{}\",status=\"{status}\"",
        method.as_str(),
        escape(route)
    )
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// Middleware: counts every request of the API by its route template.
pub async fn track(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    state.metrics.observe(
        &method,
        route.as_ref().map_or(UNMATCHED, MatchedPath::as_str),
        response.status(),
        started.elapsed(),
    );
    response
}

/// The text a scrape gets.
pub async fn render(state: &SharedState) -> String {
    let mut out = String::new();
    state.metrics.render_requests(&mut out);
    state.metrics.render_instances(&mut out);
    let dek = state.secrets.cache().stats();
    sample(
        &mut out,
        "keyward_dek_cache_hits_total",
        "counter",
        "DEKs found in the cache.",
        dek.hits,
    );
    sample(
        &mut out,
        "keyward_dek_cache_misses_total",
        "counter",
        "DEKs not in the cache (unwrapped by the key provider).",
        dek.misses,
    );
    sample(
        &mut out,
        "keyward_dek_cache_evictions_total",
        "counter",
        "DEKs evicted to make room.",
        dek.evictions,
    );
    sample(
        &mut out,
        "keyward_dek_cache_entries",
        "gauge",
        "DEKs in the cache now.",
        dek.entries,
    );
    let calls = state.key_provider_stats.snapshot();
    let per_operation =
        |out: &mut String, name: &str, help: &str, value: &dyn Fn(&OperationStats) -> String| {
            header(out, name, "counter", help);
            for c in &calls {
                let _ = writeln!(out, "{name}{{operation=\"{}\"}} {}", c.operation, value(c));
            }
        };
    per_operation(
        &mut out,
        "keyward_key_provider_calls_total",
        "The configuration service's calls to a KMS for its root keys, by operation.",
        &|c| c.calls.to_string(),
    );
    per_operation(
        &mut out,
        "keyward_key_provider_errors_total",
        "Those calls that failed (refused, unreachable, revoked key), by operation.",
        &|c| c.errors.to_string(),
    );
    per_operation(
        &mut out,
        "keyward_key_provider_call_seconds_total",
        "Time spent in those calls, by operation.",
        &|c| c.seconds.to_string(),
    );
    match state.store.reencryption_summary().await {
        Ok(jobs) => {
            sample(
                &mut out,
                "keyward_reencryption_jobs",
                "gauge",
                "Re-encryption jobs not finished (running or paused).",
                jobs.jobs,
            );
            sample(
                &mut out,
                "keyward_reencryption_jobs_paused",
                "gauge",
                "Re-encryption jobs paused (their new key cannot be used).",
                jobs.paused,
            );
            sample(
                &mut out,
                "keyward_reencryption_fields_done",
                "gauge",
                "Fields re-encrypted by the unfinished jobs.",
                jobs.fields_done,
            );
            sample(
                &mut out,
                "keyward_reencryption_fields_total",
                "gauge",
                "Fields the unfinished jobs have to re-encrypt.",
                jobs.fields_total,
            );
            sample(
                &mut out,
                "keyward_metrics_database_up",
                "gauge",
                "Whether the scrape could read the database.",
                1,
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot read the re-encryption jobs");
            sample(
                &mut out,
                "keyward_metrics_database_up",
                "gauge",
                "Whether the scrape could read the database.",
                0,
            );
        }
    }
    out
}

async fn scrape(State(state): State<SharedState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&state).await,
    )
        .into_response()
}

/// The router of the metrics listener: `GET /metrics` only.
pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}
