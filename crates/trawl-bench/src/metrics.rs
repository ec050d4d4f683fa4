//! Retrieval metrics, as trec_eval computes them.
//!
//! `ranking` is the engine's result list, best first; `judged` maps document
//! ids to graded relevance (> 0 is relevant).

use std::collections::HashMap;

pub(crate) type Judgements = HashMap<String, u32>;

/// Normalised discounted cumulative gain at `k`, with gain = grade and
/// discount log2(rank + 1), as trec_eval's `ndcg_cut`.
pub(crate) fn ndcg_at(ranking: &[String], judged: &Judgements, k: usize) -> f64 {
    let dcg: f64 = ranking
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, id)| f64::from(judged.get(id).copied().unwrap_or(0)) / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<u32> = judged.values().copied().filter(|&g| g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &g)| f64::from(g) / (i as f64 + 2.0).log2())
        .sum();
    if idcg == 0.0 { 0.0 } else { dcg / idcg }
}

/// Fraction of the relevant documents found in the first `k`.
pub(crate) fn recall_at(ranking: &[String], judged: &Judgements, k: usize) -> f64 {
    let relevant = judged.values().filter(|&&g| g > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranking
        .iter()
        .take(k)
        .filter(|id| judged.get(*id).is_some_and(|&g| g > 0))
        .count();
    found as f64 / relevant as f64
}

/// Average precision over the whole ranking (trec_eval's `map` per query):
/// the mean, over all relevant documents, of precision at each one's rank
/// (0 for those never retrieved).
pub(crate) fn average_precision(ranking: &[String], judged: &Judgements) -> f64 {
    let relevant = judged.values().filter(|&&g| g > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let mut hits = 0;
    let mut sum = 0.0;
    for (i, id) in ranking.iter().enumerate() {
        if judged.get(id).is_some_and(|&g| g > 0) {
            hits += 1;
            sum += f64::from(hits) / (i as f64 + 1.0);
        }
    }
    sum / relevant as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranking(ids: &[&str]) -> Vec<String> {
        ids.iter().map(std::string::ToString::to_string).collect()
    }

    fn judged(pairs: &[(&str, u32)]) -> Judgements {
        pairs.iter().map(|(id, g)| (id.to_string(), *g)).collect()
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn ndcg_by_hand() {
        // Relevant d1 (grade 1) at rank 2 and d2 (grade 1) at rank 4:
        // DCG = 1/log2(3) + 1/log2(5) = 0.6309297536 + 0.4306765581 = 1.0616063117
        // IDCG = 1/log2(2) + 1/log2(3) = 1 + 0.6309298 = 1.6309298
        let r = ranking(&["x", "d1", "y", "d2"]);
        let j = judged(&[("d1", 1), ("d2", 1), ("n", 0)]);
        close(ndcg_at(&r, &j, 10), 1.0616063117 / 1.6309297536);
        // Cut at 3: only d1 counts.
        close(ndcg_at(&r, &j, 3), 0.6309297536 / 1.6309297536);
        // Graded: the grade-2 document first is ideal.
        close(
            ndcg_at(&ranking(&["a", "b"]), &judged(&[("a", 2), ("b", 1)]), 10),
            1.0,
        );
        // Swapped: DCG = 1 + 2/log2(3) = 2.2618595; IDCG = 2 + 1/log2(3) = 2.6309298
        close(
            ndcg_at(&ranking(&["b", "a"]), &judged(&[("a", 2), ("b", 1)]), 10),
            2.2618595073 / 2.6309297536,
        );
        close(ndcg_at(&ranking(&["x"]), &judged(&[("a", 0)]), 10), 0.0);
    }

    #[test]
    fn recall_by_hand() {
        let j = judged(&[("a", 1), ("b", 1), ("c", 1), ("z", 0)]);
        close(
            recall_at(&ranking(&["a", "z", "x", "c"]), &j, 100),
            2.0 / 3.0,
        );
        close(recall_at(&ranking(&["a", "z", "x", "c"]), &j, 2), 1.0 / 3.0);
    }

    #[test]
    fn average_precision_by_hand() {
        // Relevant at ranks 1 and 3 of 2 relevant: (1/1 + 2/3) / 2 = 0.8333…
        let j = judged(&[("a", 1), ("b", 3)]);
        close(
            average_precision(&ranking(&["a", "x", "b"]), &j),
            (1.0 + 2.0 / 3.0) / 2.0,
        );
        // One of two never retrieved: (1/2) / 2.
        close(average_precision(&ranking(&["x", "a"]), &j), 0.25);
    }
}
