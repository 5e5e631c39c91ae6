//! `/metrics` and the middleware that times every request (see `crate::metrics`).
//!
//! `/metrics` is served on the admin listener only. That listener is already
//! the private surface (loopback by default, a private network in
//! production) where a Prometheus server can reach each node directly; on
//! the public listener the figures (login failures, key ids and ages, error
//! rates) would be readable by anyone unless every proxy in front remembered
//! to block the path. It needs no admin token: a scraper holding one would
//! hold admin rights.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::App;

/// `GET /metrics`, with its state applied (merged into the admin router).
pub fn router(app: App) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(app)
}

async fn metrics(State(app): State<App>) -> Response {
    let body = app.metrics.render(&app.keys, app.clock.now(), app.cache.usage());
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

/// Times the request under its route template (bounded cardinality: never
/// the raw path), and counts a 500/503 that no cache failure or timeout
/// explains as a store error.
pub async fn track(State(app): State<App>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let started = Instant::now();
    let (resp, cache_failed) = crate::metrics::watch_cache(next.run(req)).await;
    let status = resp.status();
    let timed_out = resp.extensions().get::<super::TimedOut>().is_some();
    if matches!(status, StatusCode::INTERNAL_SERVER_ERROR | StatusCode::SERVICE_UNAVAILABLE)
        && !cache_failed
        && !timed_out
    {
        app.metrics.store_error();
    }
    app.metrics.http_request(route.as_deref().unwrap_or("unmatched"), status.as_u16(), started.elapsed());
    resp
}
