//! The floor of the seed comparison: a server built from the same parts as
//! trawl (tokio, hyper through axum, reqwest) that forwards
//! `GET /api/v1/search?…` to the upstream and returns its body untouched —
//! no parsing, cleaning, merging or rendering. Whatever it cannot reach on
//! this machine, no search portal on this stack can.

use std::io::Write;

use anyhow::Context;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

struct Upstream {
    http: reqwest::Client,
    url: String,
}

async fn forward(
    State(upstream): State<std::sync::Arc<Upstream>>,
    RawQuery(query): RawQuery,
) -> impl IntoResponse {
    let url = format!("{}?{}", upstream.url, query.unwrap_or_default());
    let answer = async { upstream.http.get(url).send().await?.bytes().await }.await;
    match answer {
        Ok(body) => Ok(([(header::CONTENT_TYPE, "application/json")], body)),
        Err(_) => Err(StatusCode::BAD_GATEWAY),
    }
}

/// Serves on a free loopback port, printing `listening <address>` once ready.
pub(crate) fn serve(upstream: String) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let state = std::sync::Arc::new(Upstream {
            http: reqwest::Client::new(),
            url: upstream,
        });
        let app = Router::new()
            .route("/api/v1/search", get(forward))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let mut out = std::io::stdout();
        writeln!(out, "listening {}", listener.local_addr()?)?;
        out.flush()?;
        axum::serve(listener, app).await.context("serving")
    })
}
