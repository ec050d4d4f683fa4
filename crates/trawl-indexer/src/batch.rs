//! The door: a batch as submitted becomes the payload of a job, or is
//! refused with every bad document named by its place and line.
//!
//! A payload is the batch's good documents in trawl's JSON format, one per
//! line ([`Document::to_json`]), checked and normalised: the worker reads
//! it back with [`Document::from_json`] and never meets a bad document.

use serde_json::value::RawValue;
use trawl_api::ServiceError;
use trawl_api::jobs::{Batch, BatchFormat, DocumentError, MAX_LISTED_ERRORS};
use trawl_index::{Document, DocumentLimits};

/// A batch that passed the door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    /// The good documents, one JSON line each.
    pub payload: Vec<u8>,
    pub documents: u64,
    /// The bad ones (at most [`MAX_LISTED_ERRORS`]), when `skip_bad`.
    pub errors: Vec<DocumentError>,
    pub errors_total: u64,
}

/// Checks every document of `batch`. Without `skip_bad`, one bad document
/// refuses the batch; with it, the bad ones are reported and left out. A
/// batch with no good document is refused either way: there is nothing to
/// queue.
pub(crate) fn check(
    batch: &Batch,
    max_documents: usize,
    limits: &DocumentLimits,
) -> Result<Checked, ServiceError> {
    let mut errors = Errors::default();
    let mut payload = Vec::with_capacity(batch.body.len());
    let mut documents = 0u64;
    let mut seen = 0usize;
    let mut accept = |position: u64, line: u64, json: Result<&str, String>| {
        seen += 1;
        if seen > max_documents {
            return Err(ServiceError::TooManyDocuments {
                limit: max_documents,
            });
        }
        let parsed = match json {
            Ok(json) => {
                Document::from_json_within(json, limits).map_err(|reason| (reason, id_of(json)))
            }
            Err(reason) => Err((reason, None)),
        };
        match parsed {
            Ok(doc) => {
                payload.extend_from_slice(doc.to_json().as_bytes());
                payload.push(b'\n');
                documents += 1;
            }
            Err((reason, id)) => errors.push(DocumentError {
                position,
                line,
                id,
                reason,
            }),
        }
        Ok(())
    };
    match batch.format {
        BatchFormat::Json => each_element(&batch.body, &mut accept)?,
        BatchFormat::Ndjson => each_line(&batch.body, &mut accept)?,
    }
    if documents == 0 && errors.total == 0 {
        return Err(ServiceError::EmptyBatch);
    }
    if errors.total > 0 && (!batch.skip_bad || documents == 0) {
        return Err(ServiceError::InvalidDocuments {
            errors: errors.listed,
            total: errors.total,
        });
    }
    Ok(Checked {
        payload,
        documents,
        errors: errors.listed,
        errors_total: errors.total,
    })
}

#[derive(Default)]
struct Errors {
    listed: Vec<DocumentError>,
    total: u64,
}

impl Errors {
    fn push(&mut self, error: DocumentError) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED_ERRORS {
            self.listed.push(error);
        }
    }
}

/// The `id` of a bad document, if it has a readable one (for the report).
fn id_of(json: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: serde_json::Value,
    }
    let id = serde_json::from_str::<IdOnly>(json).ok()?.id;
    let text = match id {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    // A report, not an echo chamber: long ids are cut.
    Some(text.chars().take(200).collect())
}

type Accept<'a> = dyn FnMut(u64, u64, Result<&str, String>) -> Result<(), ServiceError> + 'a;

/// A JSON array: each element, with its 1-based position and the line it
/// starts on. A body that is not a JSON array refuses the whole batch.
fn each_element(body: &[u8], accept: &mut Accept<'_>) -> Result<(), ServiceError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        let (line, column) = line_and_column(body, e.valid_up_to());
        ServiceError::MalformedBatch {
            format: "JSON",
            line,
            column,
            reason: "the body is not valid UTF-8".to_owned(),
        }
    })?;
    let elements: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| {
        let reason = match e.classify() {
            serde_json::error::Category::Data => "expected a JSON array of documents".to_owned(),
            _ => strip_position(&e.to_string()),
        };
        ServiceError::MalformedBatch {
            format: "JSON",
            line: (e.line() as u64).max(1),
            column: (e.column() as u64).max(1),
            reason,
        }
    })?;
    // Lines are counted once, from one element to the next.
    let (mut line, mut counted_to) = (1u64, 0usize);
    for (i, element) in elements.iter().enumerate() {
        let json = element.get();
        let offset = json.as_ptr() as usize - text.as_ptr() as usize;
        line += text.as_bytes()[counted_to..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        counted_to = offset;
        accept(i as u64 + 1, line, Ok(json))?;
    }
    Ok(())
}

/// NDJSON: each non-blank line is a document. A line that is not JSON, or
/// not UTF-8, is a bad document like any other.
fn each_line(body: &[u8], accept: &mut Accept<'_>) -> Result<(), ServiceError> {
    let mut position = 0u64;
    for (i, raw) in body.split(|b| *b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        position += 1;
        let json = std::str::from_utf8(raw).map_err(|_| "the line is not valid UTF-8".to_owned());
        accept(position, i as u64 + 1, json)?;
    }
    Ok(())
}

/// serde_json's message without its " at line L column C" (given apart).
fn strip_position(message: &str) -> String {
    match message.rsplit_once(" at line ") {
        Some((what, _)) => what.to_owned(),
        None => message.to_owned(),
    }
}

fn line_and_column(body: &[u8], offset: usize) -> (u64, u64) {
    let before = &body[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let column = before.iter().rev().take_while(|b| **b != b'\n').count() as u64 + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(format: BatchFormat, body: &str, skip_bad: bool) -> Batch {
        Batch {
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
            format,
            skip_bad,
            idempotency_key: None,
        }
    }

    fn doc(id: &str) -> String {
        format!(r#"{{"id":"{id}","title":"T {id}","url":"https://x.org/{id}","body":"b"}}"#)
    }

    fn lines(payload: &[u8]) -> Vec<Document> {
        std::str::from_utf8(payload)
            .unwrap()
            .lines()
            .map(|l| Document::from_json(l).unwrap())
            .collect()
    }

    #[test]
    fn a_document_over_a_limit_is_refused_by_name() {
        let limits = DocumentLimits {
            max_body_bytes: 10,
            max_title_bytes: 8,
            max_url_bytes: 30,
            max_fields: 5,
        };
        let ok = doc("ok");
        let body = r#"{"id":"b","title":"t","url":"https://x.org/b","body":"eleven bytes"}"#;
        let title = r#"{"id":"t","title":"nine bytes","url":"https://x.org/t","body":"b"}"#;
        let url = format!(
            r#"{{"id":"u","title":"t","url":"https://x.org/{}","body":"b"}}"#,
            "u".repeat(20)
        );
        let fields = r#"{"id":"f","title":"t","url":"https://x.org/f","body":"b","a":1,"b":2}"#;
        let deep = r#"{"id":"d","title":"t","url":"https://x.org/d","body":"b","x":[[[1]]]}"#;
        let ndjson = [ok.as_str(), body, title, &url, fields, deep].join("\n");
        let Err(ServiceError::InvalidDocuments { errors, total }) =
            check(&batch(BatchFormat::Ndjson, &ndjson, false), 10, &limits)
        else {
            panic!("refused")
        };
        assert_eq!(total, 4);
        let reasons: Vec<(u64, &str)> =
            errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
        assert!(
            reasons[0].0 == 2
                && reasons[0]
                    .1
                    .contains("`body` is 12 bytes, over the limit of 10"),
            "{reasons:?}"
        );
        assert!(
            reasons[1].0 == 3 && reasons[1].1.contains("`title`"),
            "{reasons:?}"
        );
        assert!(
            reasons[2].0 == 4 && reasons[2].1.contains("`url`"),
            "{reasons:?}"
        );
        assert!(
            reasons[3].0 == 5 && reasons[3].1.contains("more than 5 fields"),
            "{reasons:?}"
        );
        assert_eq!(errors[0].id.as_deref(), Some("b"));
        // Within the limits, unknown fields of any shape are skipped.
        let checked = check(
            &batch(BatchFormat::Ndjson, &[ok.as_str(), deep].join("\n"), false),
            10,
            &limits,
        )
        .unwrap();
        assert_eq!(checked.documents, 2);
    }

    #[test]
    fn good_batches_become_payloads_in_both_formats() {
        let array = format!("[\n  {},\n  {}\n]", doc("a"), doc("b"));
        let checked = check(
            &batch(BatchFormat::Json, &array, false),
            10,
            &DocumentLimits::default(),
        )
        .unwrap();
        assert_eq!((checked.documents, checked.errors_total), (2, 0));
        let ids: Vec<_> = lines(&checked.payload).into_iter().map(|d| d.id).collect();
        assert_eq!(ids, ["a", "b"]);

        let ndjson = format!("{}\r\n\n  \n{}\n", doc("a"), doc("b"));
        let same = check(
            &batch(BatchFormat::Ndjson, &ndjson, false),
            10,
            &DocumentLimits::default(),
        )
        .unwrap();
        assert_eq!(same.payload, checked.payload, "one normal form");
    }

    #[test]
    fn bad_documents_are_named_by_position_and_line() {
        let array = format!(
            "[{},\n{{\"id\":\"b\",\"title\":\"t\",\"body\":\"x\"}},\n\n{{\"id\":3,\"title\":\"t\",\"url\":\"javascript:alert(1)\",\"body\":\"\"}}, {}]",
            doc("a"),
            doc("d")
        );
        let Err(ServiceError::InvalidDocuments { errors, total }) = check(
            &batch(BatchFormat::Json, &array, false),
            10,
            &DocumentLimits::default(),
        ) else {
            panic!("refused")
        };
        assert_eq!(total, 2);
        assert_eq!(
            errors
                .iter()
                .map(|e| (e.position, e.line, e.id.as_deref()))
                .collect::<Vec<_>>(),
            [(2, 2, Some("b")), (3, 4, Some("3"))]
        );
        assert!(
            errors[0].reason.contains("missing field `url`"),
            "{errors:?}"
        );
        assert!(
            errors[1].reason.contains("http, https or file"),
            "{errors:?}"
        );

        // With skip_bad the good ones pass and the bad ones are reported.
        let checked = check(
            &batch(BatchFormat::Json, &array, true),
            10,
            &DocumentLimits::default(),
        )
        .unwrap();
        assert_eq!((checked.documents, checked.errors_total), (2, 2));

        let ndjson = format!("{}\nnot json\n\n{}\n\u{0}", doc("a"), doc("c"));
        let Err(ServiceError::InvalidDocuments { errors, .. }) = check(
            &batch(BatchFormat::Ndjson, &ndjson, false),
            10,
            &DocumentLimits::default(),
        ) else {
            panic!()
        };
        assert_eq!(
            errors
                .iter()
                .map(|e| (e.position, e.line))
                .collect::<Vec<_>>(),
            [(2, 2), (4, 5)]
        );
    }

    #[test]
    fn a_body_that_is_not_an_array_or_holds_nothing_is_refused_whole() {
        for (body, line, column) in [("[{\"id\":1,\n]", 2, 1), ("{\"id\": 1}", 1, 1), ("[", 1, 1)] {
            match check(
                &batch(BatchFormat::Json, body, true),
                10,
                &DocumentLimits::default(),
            ) {
                Err(ServiceError::MalformedBatch {
                    line: l, column: c, ..
                }) => {
                    assert_eq!((l, c > 0), (line, column > 0), "{body}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        let bytes = Batch {
            body: bytes::Bytes::from_static(b"[\n\xff]"),
            format: BatchFormat::Json,
            skip_bad: false,
            idempotency_key: None,
        };
        assert!(matches!(
            check(&bytes, 10, &DocumentLimits::default()),
            Err(ServiceError::MalformedBatch {
                line: 2,
                column: 1,
                ..
            })
        ));
        for (format, body) in [(BatchFormat::Json, "[]"), (BatchFormat::Ndjson, "\n \n")] {
            assert!(matches!(
                check(&batch(format, body, false), 10, &DocumentLimits::default()),
                Err(ServiceError::EmptyBatch)
            ));
        }
        // Nothing good is nothing to queue, skip_bad or not.
        assert!(matches!(
            check(
                &batch(BatchFormat::Ndjson, "nope\n", true),
                10,
                &DocumentLimits::default()
            ),
            Err(ServiceError::InvalidDocuments { total: 1, .. })
        ));
    }

    #[test]
    fn limits_hold() {
        let many = (0..11)
            .map(|i| doc(&i.to_string()))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(matches!(
            check(
                &batch(BatchFormat::Ndjson, &many, false),
                10,
                &DocumentLimits::default()
            ),
            Err(ServiceError::TooManyDocuments { limit: 10 })
        ));
        let bad = "x\n".repeat(150);
        let Err(ServiceError::InvalidDocuments { errors, total }) = check(
            &batch(BatchFormat::Ndjson, &bad, false),
            1000,
            &DocumentLimits::default(),
        ) else {
            panic!()
        };
        assert_eq!((errors.len(), total), (MAX_LISTED_ERRORS, 150));
        let long_id = format!(
            r#"{{"id":"{}","title":"t","url":"https://x.org/","body":"b"}}"#,
            "i".repeat(5000)
        );
        let Err(ServiceError::InvalidDocuments { errors, .. }) = check(
            &batch(BatchFormat::Ndjson, &long_id, false),
            10,
            &DocumentLimits::default(),
        ) else {
            panic!()
        };
        assert_eq!(
            errors[0].id.as_ref().unwrap().len(),
            200,
            "reported ids are cut"
        );
    }
}
