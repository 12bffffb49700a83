//! The attention explorer: one page at `/` (HTML, script and style compiled into the binary; no
//! build step, no network) that asks the served model for its answer and its `/attend` numbers,
//! and draws them.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const PAGE: &str = include_str!("explorer/index.html");
const SCRIPT: &str = include_str!("explorer/explorer.js");
const STYLE: &str = include_str!("explorer/explorer.css");

/// `/`, `/explorer.js` and `/explorer.css`, open like `/health` (the page asks for the API key
/// when the server has one).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let file = |kind: &'static str, body: &'static str| {
        get(move || async move { ([(header::CONTENT_TYPE, kind)], body).into_response() })
    };
    Router::new()
        .route("/", file("text/html; charset=utf-8", PAGE))
        .route(
            "/explorer.js",
            file("text/javascript; charset=utf-8", SCRIPT),
        )
        .route("/explorer.css", file("text/css; charset=utf-8", STYLE))
}
