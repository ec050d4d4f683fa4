//! Retrieval quality of the local engine on judged test collections.

use std::path::Path;

use anyhow::Context;
use trawl_index::{Document, LocalIndex, Ranking};

use crate::collections::Collection;
use crate::metrics::{average_precision, ndcg_at, recall_at};

#[derive(Debug, Clone)]
pub(crate) struct Quality {
    pub collection: &'static str,
    pub documents: usize,
    pub queries: usize,
    pub ndcg10: f64,
    pub recall100: f64,
    pub map: f64,
}

/// Indexes the collection in a fresh index under `dir` and runs every judged
/// query through the same ranking the search service uses.
pub(crate) fn evaluate(
    collection: &Collection,
    ranking: Ranking,
    dir: &Path,
) -> anyhow::Result<Quality> {
    let index = LocalIndex::open_with(dir, ranking)?;
    let mut writer = index.writer()?;
    for doc in &collection.docs {
        // The URL only has to be valid; evaluation goes by id.
        let url = format!("https://bench.invalid/{}", doc.id);
        let document = Document::new(
            doc.id.clone(),
            doc.title.clone(),
            url,
            doc.body.clone(),
            None,
        )
        .with_context(|| format!("document {}", doc.id))?;
        writer.upsert(document)?;
    }
    writer.commit()?;
    let (mut ndcg, mut recall, mut map) = (0.0, 0.0, 0.0);
    for (id, text) in &collection.queries {
        let judged = &collection.qrels[id];
        let ranking: Vec<String> = index
            .rank_ids(text, 1000)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        ndcg += ndcg_at(&ranking, judged, 10);
        recall += recall_at(&ranking, judged, 100);
        map += average_precision(&ranking, judged);
    }
    let n = collection.queries.len() as f64;
    Ok(Quality {
        collection: collection.name,
        documents: collection.docs.len(),
        queries: collection.queries.len(),
        ndcg10: ndcg / n,
        recall100: recall / n,
        map: map / n,
    })
}
