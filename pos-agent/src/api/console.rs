//! The console page and its assets (`/`, `/console/*`), embedded in the
//! binary.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The console's assets are embedded in the binary: no CDN, no build step,
/// nothing to install beside the agent. `no-store` so that an upgraded agent
/// never runs with a cached script of the previous version; the CSP keeps
/// the page from loading anything that is not served by the agent.
fn console_asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

pub(super) async fn console() -> Response {
    console_asset(
        "text/html; charset=utf-8",
        include_str!("../console/index.html"),
    )
}

pub(super) async fn console_css() -> Response {
    console_asset(
        "text/css; charset=utf-8",
        include_str!("../console/console.css"),
    )
}

pub(super) async fn console_js() -> Response {
    console_asset(
        "text/javascript; charset=utf-8",
        include_str!("../console/console.js"),
    )
}
