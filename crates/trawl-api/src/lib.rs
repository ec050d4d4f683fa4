//! The contract between trawl's services and with its users.
//!
//! This crate holds what crosses a process boundary: the typed, validated
//! request ([`SearchRequest`]), the response bodies ([`wire`]), the error
//! document ([`Problem`]) and the two seams ([`SearchService`],
//! [`ResultsService`]). It does no I/O; the in-process implementations of the
//! seams live in `trawl-search` and `trawl-results`, the HTTP ones in
//! `trawl-service`.

pub mod cursor;
pub mod openapi;
pub mod options;
pub mod params;
pub mod seams;
pub mod wire;

pub use cursor::CursorKey;
pub use options::{Format, Keyword, Lang, Safe, TimeRange};
pub use params::{InvalidRequest, Query, SearchRequest};
pub use seams::{ResultsService, SearchService, ServiceError};
pub use wire::{
    Check, EngineInfo, EngineReport, EngineStatus, EnginesResponse, Problem, Readiness, ResultHit,
    ResultsResponse, ResultsResponseV2, SearchHit, SearchResponse, SearchResponseV2,
};
