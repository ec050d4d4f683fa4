mod collections;
mod metrics;
mod quality;

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let data = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data"));
    let mut collections = vec![
        collections::scifact(&data, "train")?,
        collections::scifact(&data, "test")?,
    ];
    for which in ["cran", "cisi", "med", "cacm"] {
        collections.push(collections::glasgow(&data, which)?);
    }
    for c in &collections {
        for stop_words in [false] {
            for title_boost in [0.2] {
                let dir = tempfile::tempdir()?;
                let q = quality::evaluate(
                    c,
                    trawl_index::Ranking {
                        title_boost,
                        stop_words,
                    },
                    dir.path(),
                )?;
                print!("stop={stop_words} boost={title_boost} ");
                println!(
                    "{:<16} docs {:>5} queries {:>4}  nDCG@10 {:.4}  R@100 {:.4}  MAP {:.4}  ({:.1} s)",
                    q.collection, q.documents, q.queries, q.ndcg10, q.recall100, q.map, q.seconds
                );
            }
        }
    }
    Ok(())
}
