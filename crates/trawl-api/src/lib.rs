//! The contract between trawl's services and with its users.
//!
//! This crate holds what crosses a process boundary: the typed, validated
//! request ([`SearchRequest`]), the response bodies ([`wire`]), the error
//! document ([`Problem`]), the write API's batches and jobs ([`jobs`]) and
//! the seams ([`SearchService`], [`ResultsService`], [`IndexerService`]). It
//! does no I/O; the in-process implementations of the seams live in
//! `trawl-search`, `trawl-results` and `trawl-indexer`, the HTTP ones in
//! `trawl-service`.

pub mod cursor;
pub mod dates;
pub mod jobs;
pub mod openapi;
pub mod options;
pub mod params;
pub mod problems;
pub mod seams;
pub mod sources;
pub mod text;
pub mod wire;

pub use cursor::CursorKey;
pub use options::{Format, Keyword, Lang, Safe, TimeRange};
pub use params::{InvalidRequest, Query, SearchRequest};
pub use problems::Code;
pub use seams::{IndexerService, ResultsService, SearchService, ServiceError, SourcesService};
pub use wire::{
    Check, EngineInfo, EngineReport, EngineStatus, EnginesResponse, Problem, Readiness, ResultHit,
    ResultsResponse, ResultsResponseV2, SearchHit, SearchResponse, SearchResponseV2, Suggestions,
};
