//! Test collections from `../shared/data`: documents, queries, judgements.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, bail};

use crate::metrics::Judgements;

pub(crate) struct Collection {
    pub name: &'static str,
    pub docs: Vec<Doc>,
    /// (query id, text), only queries with judgements.
    pub queries: Vec<(String, String)>,
    pub qrels: HashMap<String, Judgements>,
}

pub(crate) struct Doc {
    pub id: String,
    pub title: String,
    pub body: String,
}

fn open(path: &Path) -> anyhow::Result<Box<dyn BufRead>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::new(reader)))
}

/// BEIR SciFact; `split` is `train` or `test`.
pub(crate) fn scifact(data: &Path, split: &str) -> anyhow::Result<Collection> {
    let dir = data.join("scifact");
    let mut docs = Vec::new();
    for line in open(&dir.join("corpus.jsonl.gz"))?.lines() {
        let value: serde_json::Value = serde_json::from_str(&line?)?;
        docs.push(Doc {
            id: value["_id"].as_str().context("_id")?.to_owned(),
            title: value["title"].as_str().unwrap_or("").to_owned(),
            body: value["text"].as_str().unwrap_or("").to_owned(),
        });
    }
    let mut qrels: HashMap<String, Judgements> = HashMap::new();
    for line in open(&dir.join("qrels").join(format!("{split}.tsv")))?
        .lines()
        .skip(1)
    {
        let line = line?;
        let fields: Vec<&str> = line.split('\t').collect();
        let [query, doc, score] = fields[..] else {
            bail!("bad qrels line {line:?}")
        };
        qrels
            .entry(query.to_owned())
            .or_default()
            .insert(doc.to_owned(), score.parse()?);
    }
    let mut queries = Vec::new();
    for line in open(&dir.join("queries.jsonl"))?.lines() {
        let value: serde_json::Value = serde_json::from_str(&line?)?;
        let id = value["_id"].as_str().context("_id")?.to_owned();
        if qrels.contains_key(&id) {
            queries.push((id, value["text"].as_str().context("text")?.to_owned()));
        }
    }
    Ok(Collection {
        name: if split == "test" {
            "SciFact (test)"
        } else {
            "SciFact (train)"
        },
        docs,
        queries,
        qrels,
    })
}

/// Records of the SMART format: `.I id` then fields `.T`, `.W`, ….
fn smart_records(path: &Path) -> anyhow::Result<Vec<(String, HashMap<char, String>)>> {
    let mut text = String::new();
    open(path)?.read_to_string(&mut text)?;
    let mut records: Vec<(String, HashMap<char, String>)> = Vec::new();
    let mut field = None;
    for line in text.lines() {
        if let Some(id) = line.strip_prefix(".I") {
            records.push((id.trim().to_owned(), HashMap::new()));
            field = None;
        } else if line.len() >= 2
            && line.starts_with('.')
            && line.as_bytes()[1].is_ascii_uppercase()
            && line[2..].trim().is_empty()
        {
            field = Some(line.as_bytes()[1] as char);
        } else if let (Some(f), Some((_, fields))) = (field, records.last_mut()) {
            let entry = fields.entry(f).or_default();
            entry.push_str(line);
            entry.push('\n');
        }
    }
    Ok(records)
}

fn field(fields: &HashMap<char, String>, f: char) -> String {
    fields
        .get(&f)
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Strips leading zeros so `001` and `1` are the same id.
fn norm(id: &str) -> String {
    let trimmed = id.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// One of the Glasgow collections: `cran`, `cisi`, `med` or `cacm`.
pub(crate) fn glasgow(data: &Path, which: &str) -> anyhow::Result<Collection> {
    let dir = data.join("glasgow-classic").join(which);
    let (name, docs_file, queries_file, qrels_file) = match which {
        "cran" => ("Cranfield", "cran.all.1400", "cran.qry", "cran.qrels"),
        "cisi" => ("CISI", "CISI.ALL", "CISI.QRY", "CISI.REL"),
        "med" => ("MEDLINE", "MED.ALL", "MED.QRY", "MED.REL"),
        "cacm" => ("CACM", "cacm.all", "query.text", "qrels.text"),
        other => bail!("unknown collection {other}"),
    };
    let docs = smart_records(&dir.join(docs_file))?
        .into_iter()
        .map(|(id, fields)| Doc {
            id: norm(&id),
            title: field(&fields, 'T'),
            body: field(&fields, 'W'),
        })
        .collect();
    let raw_queries = smart_records(&dir.join(queries_file))?;
    let mut qrels: HashMap<String, Judgements> = HashMap::new();
    for line in open(&dir.join(qrels_file))?.lines() {
        let line = line?;
        let f: Vec<&str> = line.split_whitespace().collect();
        let (query, doc, grade) = match (which, f.as_slice()) {
            // Cleverdon's codes: 1 is a complete answer … 4 of minimum
            // interest; -1 marks no relevance. Gain = 5 - code.
            ("cran", [q, d, code]) => {
                let code: i32 = code.parse()?;
                (
                    *q,
                    *d,
                    if (1..=4).contains(&code) {
                        (5 - code) as u32
                    } else {
                        0
                    },
                )
            }
            ("med", [q, _, d, rel]) => (*q, *d, rel.parse::<u32>()?),
            ("cisi" | "cacm", [q, d, ..]) => (*q, *d, 1),
            _ => bail!("{qrels_file}: bad line {line:?}"),
        };
        if grade > 0 {
            qrels
                .entry(norm(query))
                .or_default()
                .insert(norm(doc), grade);
        }
    }
    // Cranfield's judgements number the queries 1…225 in file order, not by
    // their `.I` ids (which skip numbers).
    let queries = raw_queries
        .into_iter()
        .enumerate()
        .map(|(i, (id, fields))| {
            let id = if which == "cran" {
                (i + 1).to_string()
            } else {
                norm(&id)
            };
            (id, field(&fields, 'W'))
        })
        .filter(|(id, _)| qrels.contains_key(id))
        .collect();
    Ok(Collection {
        name,
        docs,
        queries,
        qrels,
    })
}
