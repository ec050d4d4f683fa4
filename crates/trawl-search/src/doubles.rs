//! Loopback doubles of the engines' APIs, for trawl's tests: one scripted
//! server that every engine's tests share, answering each path with the
//! answers it is given (the last one repeating) and recording what it was
//! asked, and the documented answers of each API ([`catalogue`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use url::Url;

use crate::engines::HttpSettings;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Canned {
    /// Its HTTP status.
    pub status: u16,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its body.
    pub body: String,
    /// More headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Canned {
    /// A 200 with a JSON body.
    pub fn json(body: impl Into<String>) -> Self {
        Self::with(200, "application/json", body)
    }

    /// An answer of any status and type.
    pub fn with(status: u16, content_type: &'static str, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// With one more header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// One request the double received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Its method.
    pub method: Method,
    /// Its path, percent-encoded as sent.
    pub path: String,
    /// The query's pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

impl Seen {
    /// The first value of the query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Script {
    answers: HashMap<String, (Vec<Canned>, usize)>,
    seen: Vec<Seen>,
}

/// A scripted loopback API server.
#[derive(Clone)]
pub struct Double {
    root: Url,
    script: Arc<Mutex<Script>>,
}

impl Double {
    /// Serves `routes` (a path and its answers in turn) on a free loopback
    /// port; any other path is a 404.
    pub async fn start(routes: Vec<(&str, Vec<Canned>)>) -> Self {
        let script = Arc::new(Mutex::new(Script {
            answers: routes
                .into_iter()
                .map(|(path, answers)| {
                    assert!(!answers.is_empty(), "{path}: no answers");
                    (path.to_owned(), (answers, 0))
                })
                .collect(),
            seen: Vec::new(),
        }));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let root = format!("http://{}/", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            root: root.parse().expect("a URL"),
            script,
        }
    }

    /// The URL of `path` on the double.
    pub fn at(&self, path: &str) -> Url {
        self.root
            .join(path.trim_start_matches('/'))
            .expect("a path joins")
    }

    /// What it was asked, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.script.lock().expect("not poisoned").seen.clone()
    }
}

async fn answer(State(script): State<Arc<Mutex<Script>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let query = url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let mut script = script.lock().expect("not poisoned");
    script.seen.push(Seen {
        method: parts.method,
        path: path.clone(),
        query,
        headers: parts.headers,
        body,
    });
    // The longest route that is the path or a prefix of it (APIs such as
    // Marginalia's put the query in the path).
    let route = script
        .answers
        .keys()
        .filter(|route| path == **route || path.starts_with(route.as_str()))
        .max_by_key(|route| route.len())
        .cloned();
    let Some((answers, next)) = route.and_then(|route| script.answers.get_mut(&route)) else {
        return (StatusCode::NOT_FOUND, format!("no route {path}")).into_response();
    };
    let canned = answers[(*next).min(answers.len() - 1)].clone();
    *next += 1;
    let mut response = (
        StatusCode::from_u16(canned.status).expect("a status"),
        canned.body,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        canned.content_type.parse().expect("a header value"),
    );
    for (name, value) in canned.headers {
        headers.insert(name, value.parse().expect("a header value"));
    }
    response
}

/// One engine type's double: the answers its API documents, where they
/// are asked for, and what the engine must make of them.
pub struct Case {
    /// The engine's `type`.
    pub kind: &'static str,
    /// The success answers, by path on the double.
    pub answers: Vec<(&'static str, Vec<Canned>)>,
    /// The engine's `[[engines]]` keys other than `name`, pointing at a
    /// double whose root is the argument (read as the configuration is).
    pub spec: fn(&Url) -> serde_json::Value,
    /// The first hit's title and URL, for [`Case::request`]; `DOUBLE/`
    /// in the URL stands for the double's root.
    pub first: (&'static str, &'static str),
    /// The total the engine reports.
    pub total: Option<u64>,
    /// Checks what the engine asked for [`Case::request`].
    pub asked: fn(&[Seen]),
    /// Error answers (path, answer) and the error kind each is read as.
    pub errors: Vec<(&'static str, Canned, &'static str)>,
    /// The API's rate-limit signal (path, answer): read as `rate_limited`,
    /// and the engine suspended.
    pub rate_limited: (&'static str, Canned),
}

impl Case {
    /// The request every case is asked: page 2 of 5 results for
    /// `rust search`.
    pub fn request() -> trawl_api::SearchRequest {
        trawl_api::SearchRequest {
            page: 2,
            per_page: 5,
            ..trawl_api::SearchRequest::new(
                trawl_api::Query::parse("rust search").expect("a query"),
            )
        }
    }

    /// The first hit's URL from a double at `root`.
    pub fn first_url(&self, root: &Url) -> String {
        self.first.1.replace("DOUBLE/", root.as_str())
    }

    /// The engine's specification against a double at `root`.
    pub fn spec_at(&self, root: &Url) -> crate::EngineSpec {
        let mut spec = (self.spec)(root);
        spec["type"] = self.kind.into();
        serde_json::from_value(spec).expect("the case's specification reads")
    }
}

/// Every engine type that has a [`Case`].
pub fn catalogue() -> Vec<Case> {
    crate::engines::cases()
}

/// An engine's settings: a 5 s timeout and the default suspension.
pub fn settings(name: &str) -> HttpSettings {
    HttpSettings::new(name, Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::Build;
    use crate::{Engine, EngineError};

    async fn engine(case: &Case, routes: Vec<(&str, Vec<Canned>)>) -> (Double, Arc<dyn Engine>) {
        let double = Double::start(routes).await;
        let mut build = Build {
            http: settings(case.kind),
            local: None,
        };
        let engine = case
            .spec_at(&double.at("/"))
            .build(&mut build)
            .unwrap_or_else(|e| panic!("{}: {e}", case.kind));
        (double, engine)
    }

    #[tokio::test]
    async fn every_engine_asks_as_its_api_documents_and_reads_its_answers() {
        for case in catalogue() {
            let (double, engine) = engine(&case, case.answers.clone()).await;
            assert_eq!(engine.kind(), case.kind);
            let found = engine
                .search(&Case::request())
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", case.kind));
            (case.asked)(&double.seen());
            let first = found
                .hits
                .first()
                .unwrap_or_else(|| panic!("{}: no hits", case.kind));
            assert_eq!(
                (first.title.as_str(), first.url.as_str()),
                (case.first.0, case.first_url(&double.at("/")).as_str()),
                "{}",
                case.kind
            );
            assert!(found.hits.len() <= 5, "{}: more than per_page", case.kind);
            assert_eq!(found.total, case.total, "{}", case.kind);
            assert!(engine.readiness().await.ok, "{}", case.kind);
        }
    }

    #[tokio::test]
    async fn every_engine_reads_its_apis_errors_and_rate_limit_signal() {
        for case in catalogue() {
            for (path, answer, kind) in &case.errors {
                let (_, engine) = engine(&case, vec![(path, vec![answer.clone()])]).await;
                let error = engine.search(&Case::request()).await.unwrap_err();
                assert_eq!(error.kind(), *kind, "{}: {error}", case.kind);
            }
            let (path, answer) = &case.rate_limited;
            let (double, engine) = engine(&case, vec![(path, vec![answer.clone()])]).await;
            let error = engine.search(&Case::request()).await.unwrap_err();
            assert_eq!(error.kind(), "rate_limited", "{}: {error}", case.kind);
            let asked = double.seen().len();
            let again = engine.search(&Case::request()).await.unwrap_err();
            assert!(
                matches!(again, EngineError::Suspended { .. }),
                "{}: {again}",
                case.kind
            );
            assert_eq!(
                double.seen().len(),
                asked,
                "{}: asked while suspended",
                case.kind
            );
            assert!(!engine.readiness().await.ok, "{}", case.kind);
        }
    }
}

#[cfg(test)]
mod tls {
    use super::*;
    use crate::engines::Build;

    /// Engines speak TLS: an `https` API is asked over TLS (here a plain
    /// HTTP double, so the handshake fails), not refused for its scheme.
    #[tokio::test]
    async fn an_https_api_is_asked_over_tls() {
        let case = crate::engines::cases()
            .into_iter()
            .find(|c| c.kind == "crates")
            .unwrap();
        let double = Double::start(case.answers.clone()).await;
        let mut root = double.at("/");
        root.set_scheme("https").unwrap();
        let mut build = Build {
            http: settings("crates"),
            local: None,
        };
        let engine = case.spec_at(&root).build(&mut build).unwrap();
        let error = engine.search(&Case::request()).await.unwrap_err();
        assert_eq!(error.kind(), "unreachable", "{error}");
        // rustls's words for a server that answered the handshake in clear.
        assert!(error.to_string().contains("corrupt message"), "{error}");
        assert!(
            double.seen().is_empty(),
            "no HTTP request was read: {error}"
        );
    }
}
