//! Extractors that turn requests into validated values, or into an
//! [`ApiError`] in the common format.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use trawl_api::params::SearchParams;
use trawl_api::{Format, SearchRequest};

use crate::ApiError;
use crate::server::BODY_LIMIT_BYTES;

/// A validated [`SearchRequest`] from the query string of an endpoint that
/// answers in JSON (so `format`, if given, must be `json`).
#[derive(Debug, Clone)]
pub struct ValidSearch(pub SearchRequest);

impl<S: Send + Sync> FromRequestParts<S> for ValidSearch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let params = SearchParams::from_query_string(parts.uri.query())?;
        params.format(accept(&parts.headers), &[Format::Json])?;
        Ok(Self(SearchRequest::from_params(&params)?))
    }
}

/// A validated [`SearchRequest`] from the query string, and the format to
/// answer in among [`Format::DATA`] (by `format`, else `Accept`).
#[derive(Debug, Clone)]
pub struct ValidSearchAs(pub SearchRequest, pub Format);

impl<S: Send + Sync> FromRequestParts<S> for ValidSearchAs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let params = SearchParams::from_query_string(parts.uri.query())?;
        let format = params.format(accept(&parts.headers), Format::DATA)?;
        Ok(Self(SearchRequest::from_params(&params)?, format))
    }
}

/// The format to answer in among [`Format::DATA`], for an endpoint whose
/// query string carries nothing else (others in it are ignored).
#[derive(Debug, Clone, Copy)]
pub struct WantedFormat(pub Format);

impl<S: Send + Sync> FromRequestParts<S> for WantedFormat {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let params = SearchParams::from_query_string(parts.uri.query())?;
        Ok(Self(params.format(accept(&parts.headers), Format::DATA)?))
    }
}

/// The request's `Accept` header, when it is text.
pub fn accept(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
}

/// The search parameters as sent, decoded but not validated, or the reason
/// the query string could not even be decoded. Pages use it to show the
/// form pre-filled beside an error.
#[derive(Debug, Clone)]
pub struct RawSearch(pub Result<SearchParams, trawl_api::InvalidRequest>);

impl<S: Send + Sync> FromRequestParts<S> for RawSearch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(SearchParams::from_query_string(parts.uri.query())))
    }
}

/// A JSON body, with every rejection in the common problem format.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::JsonDataError(e) => ApiError::InvalidBody(source_text(&e)),
                JsonRejection::JsonSyntaxError(e) => ApiError::MalformedBody(source_text(&e)),
                JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType {
                    expected: "application/json",
                },
                JsonRejection::BytesRejection(_) => ApiError::PayloadTooLarge {
                    limit: BODY_LIMIT_BYTES,
                },
                other => ApiError::MalformedBody(other.body_text()),
            }),
        }
    }
}

/// serde's own message (which names the field and position), without axum's
/// generic prefix.
fn source_text(error: &dyn std::error::Error) -> String {
    let mut inner = error;
    while let Some(source) = inner.source() {
        inner = source;
    }
    inner.to_string()
}
