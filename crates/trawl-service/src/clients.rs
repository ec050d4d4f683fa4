//! The HTTP implementations of the service seams: what `--role results` uses
//! to reach search, and `--role web` to reach results.
//!
//! One pooled keep-alive client per destination, a connect timeout and a
//! timeout on every call. Failures become [`ServiceError`]s that say which
//! service failed and how; a problem document the callee sent is passed on
//! unchanged.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use trawl_api::{
    Check, EnginesResponse, Problem, Readiness, ResultsResponse, ResultsService, SearchRequest,
    SearchResponse, SearchService, ServiceError,
};
use url::Url;

/// How long a readiness probe of a downstream service may take.
const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
pub struct ClientSettings {
    pub connect_timeout: Duration,
    /// Whole-call limit: connecting, sending, waiting and reading the body.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("base URL {0} must be http:// or https://")]
    Scheme(Url),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A keep-alive client for one downstream service.
#[derive(Debug, Clone)]
struct ServiceClient {
    service: &'static str,
    base: Url,
    http: reqwest::Client,
    timeout: Duration,
}

impl ServiceClient {
    fn new(
        service: &'static str,
        base: Url,
        settings: ClientSettings,
    ) -> Result<Self, ClientBuildError> {
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientBuildError::Scheme(base));
        }
        let mut base = base;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .user_agent(concat!("trawl/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            service,
            base,
            http,
            timeout: settings.timeout,
        })
    }

    fn url(&self, path: &str, query: Option<&str>) -> Url {
        let mut url = self
            .base
            .join(path.trim_start_matches('/'))
            .expect("relative path joins");
        url.set_query(query);
        url
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: Option<&str>,
    ) -> Result<T, ServiceError> {
        let response = self
            .http
            .get(self.url(path, query))
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&e))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ServiceError::BadGateway {
                service: self.service,
                reason: format!("undecodable {status} response: {e}"),
            });
        }
        match serde_json::from_slice::<Problem>(&bytes) {
            Ok(problem) => Err(ServiceError::Upstream {
                service: self.service,
                problem,
            }),
            Err(_) if status == StatusCode::SERVICE_UNAVAILABLE => Err(ServiceError::Unavailable {
                service: self.service,
                reason: "503 without a problem document".to_owned(),
            }),
            Err(_) => Err(ServiceError::BadGateway {
                service: self.service,
                reason: format!("{status} without a problem document"),
            }),
        }
    }

    fn transport_error(&self, error: &reqwest::Error) -> ServiceError {
        if error.is_timeout() {
            ServiceError::Timeout {
                service: self.service,
                timeout: self.timeout,
            }
        } else {
            // Connection refused or reset, DNS failure, truncated body: the
            // service cannot be talked to right now.
            ServiceError::Unavailable {
                service: self.service,
                reason: error_chain(error),
            }
        }
    }

    /// The downstream service's own readiness, or a failed check saying why
    /// it could not be asked.
    async fn readiness(&self) -> Readiness {
        let request = self
            .http
            .get(self.url("readyz", None))
            .timeout(READINESS_TIMEOUT)
            .send();
        let unreachable =
            |detail: String| Readiness::from_checks(vec![Check::new(self.service, false, detail)]);
        match request.await {
            Ok(response) => match response.json::<Readiness>().await {
                Ok(readiness) => readiness,
                Err(e) => unreachable(format!("undecodable readiness: {}", error_chain(&e))),
            },
            Err(e) => unreachable(format!("cannot reach {}: {}", self.base, error_chain(&e))),
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// The search service over HTTP.
#[derive(Debug, Clone)]
pub struct HttpSearchClient(ServiceClient);

impl HttpSearchClient {
    pub fn new(base: Url, settings: ClientSettings) -> Result<Self, ClientBuildError> {
        ServiceClient::new("search", base, settings).map(Self)
    }
}

#[async_trait]
impl SearchService for HttpSearchClient {
    async fn search(&self, request: &SearchRequest) -> Result<SearchResponse, ServiceError> {
        self.0
            .get("v1/search", Some(&request.to_query_string()))
            .await
    }

    async fn engines(&self) -> Result<EnginesResponse, ServiceError> {
        self.0.get("v1/engines", None).await
    }

    async fn readiness(&self) -> Readiness {
        self.0.readiness().await
    }
}

/// The results service over HTTP.
#[derive(Debug, Clone)]
pub struct HttpResultsClient(ServiceClient);

impl HttpResultsClient {
    pub fn new(base: Url, settings: ClientSettings) -> Result<Self, ClientBuildError> {
        ServiceClient::new("results", base, settings).map(Self)
    }
}

#[async_trait]
impl ResultsService for HttpResultsClient {
    async fn results(&self, request: &SearchRequest) -> Result<ResultsResponse, ServiceError> {
        self.0
            .get("v1/results", Some(&request.to_query_string()))
            .await
    }

    async fn readiness(&self) -> Readiness {
        self.0.readiness().await
    }
}
