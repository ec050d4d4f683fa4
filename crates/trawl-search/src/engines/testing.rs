//! What the engines' tests share: loopback doubles of the upstream APIs.

use std::time::Duration;

use url::Url;

use super::http::HttpSettings;

/// Serves `app` on a free loopback port; the URL of `path` on it.
pub async fn serve(app: axum::Router, path: &str) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url.parse().unwrap()
}

/// An engine's settings: a 5 s timeout and the default suspension.
pub fn settings(name: &str) -> HttpSettings {
    HttpSettings::new(name, Duration::from_secs(5))
}
