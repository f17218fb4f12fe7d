//! The unauthenticated HTTP side of `serve`: liveness, readiness and Prometheus metrics. It reads
//! only what the scheduler publishes in [`Shared`]; it never touches the store. The status view
//! and everything else under `/v1` is the token-authenticated API (`crate::api`), which asks the
//! scheduler for its live status.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State as AxumState;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::metrics::Metrics;

/// What the scheduler publishes for the HTTP handlers.
pub struct Shared {
    pub metrics: Metrics,
    /// False before the first reload and from the first shutdown signal on.
    pub ready: AtomicBool,
    /// The last scheduler tick, and whether its store access worked.
    pub last_tick: Mutex<(Instant, bool)>,
    /// Readiness requires a tick within this long.
    pub tick_deadline: Duration,
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

async fn livez() -> &'static str {
    "ok\n"
}

async fn readyz(AxumState(s): AxumState<Arc<Shared>>) -> Response {
    let (tick, store_ok) = *s.last_tick.lock().unwrap_or_else(|p| p.into_inner());
    let ticking = tick.elapsed() <= s.tick_deadline;
    let ready = s.ready.load(Ordering::SeqCst);
    let body = format!(
        "ready: {}\nstore reachable: {store_ok}\nscheduler ticked {:.1}s ago\n",
        ready && ticking && store_ok,
        tick.elapsed().as_secs_f64()
    );
    let code = if ready && ticking && store_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, body).into_response()
}

async fn metrics(AxumState(s): AxumState<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}
