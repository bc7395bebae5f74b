//! In-memory vector index over the current model's exchange vectors.
//!
//! SQLite is the source of truth: the index is rebuilt from it at start-up
//! and updated by the store's writer after each commit, before the write is
//! acknowledged, so a recall issued after an acknowledged write or delete
//! sees it. Vectors are partitioned by namespace, and the session filter is
//! applied inside the scan, so filtered searches never over-fetch.
//!
//! This is the exact (brute-force) search; the hybrid-recall issue puts an
//! ANN index behind the same calls.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

#[derive(Debug)]
pub struct VectorIndex {
    dim: usize,
    namespaces: HashMap<String, Segment>,
}

#[derive(Debug, Default)]
struct Segment {
    ids: Vec<i64>,
    sessions: Vec<u32>,
    /// Row-major `ids.len() x dim`.
    data: Vec<f32>,
    pos: HashMap<i64, usize>,
    session_ids: HashMap<String, u32>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: i64,
    pub score: f32,
}

impl VectorIndex {
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            namespaces: HashMap::new(),
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.namespaces.values().map(|s| s.ids.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds or replaces the vector of row `id`. Vectors of another
    /// dimension are ignored: they belong to another model.
    pub fn insert(&mut self, id: i64, namespace: &str, session_id: &str, vector: &[f32]) {
        if vector.len() != self.dim {
            return;
        }
        let seg = match self.namespaces.get_mut(namespace) {
            Some(s) => s,
            None => self.namespaces.entry(namespace.to_owned()).or_default(),
        };
        let next = seg.session_ids.len() as u32;
        let sess = match seg.session_ids.get(session_id) {
            Some(&s) => s,
            None => *seg.session_ids.entry(session_id.to_owned()).or_insert(next),
        };
        if let Some(&p) = seg.pos.get(&id) {
            seg.sessions[p] = sess;
            seg.data[p * self.dim..(p + 1) * self.dim].copy_from_slice(vector);
            return;
        }
        seg.pos.insert(id, seg.ids.len());
        seg.ids.push(id);
        seg.sessions.push(sess);
        seg.data.extend_from_slice(vector);
    }

    /// Removes rows; unknown ids are ignored.
    pub fn remove(&mut self, namespace: &str, ids: &[i64]) {
        let dim = self.dim;
        let Some(seg) = self.namespaces.get_mut(namespace) else {
            return;
        };
        for id in ids {
            let Some(p) = seg.pos.remove(id) else {
                continue;
            };
            let last = seg.ids.len() - 1;
            if p != last {
                let moved = seg.ids[last];
                seg.ids.swap(p, last);
                seg.sessions.swap(p, last);
                let (head, tail) = seg.data.split_at_mut(last * dim);
                head[p * dim..(p + 1) * dim].copy_from_slice(&tail[..dim]);
                seg.pos.insert(moved, p);
            }
            seg.ids.pop();
            seg.sessions.pop();
            seg.data.truncate(last * dim);
        }
        if seg.ids.is_empty() {
            self.namespaces.remove(namespace);
        }
    }

    /// Top `k` rows of `namespace` (optionally one session) by dot product
    /// with `query` (cosine, as all vectors are L2-normalised).
    pub fn search(
        &self,
        namespace: &str,
        session_id: Option<&str>,
        query: &[f32],
        k: usize,
    ) -> Vec<Hit> {
        if k == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let Some(seg) = self.namespaces.get(namespace) else {
            return Vec::new();
        };
        let session = match session_id {
            Some(s) => match seg.session_ids.get(s) {
                Some(&idx) => Some(idx),
                None => return Vec::new(),
            },
            None => None,
        };
        let mut heap: BinaryHeap<MinScore> = BinaryHeap::with_capacity(k + 1);
        for (row, vector) in seg.data.chunks_exact(self.dim).enumerate() {
            if let Some(s) = session
                && seg.sessions[row] != s
            {
                continue;
            }
            let score = dot(query, vector);
            if heap.len() < k {
                heap.push(MinScore(score, row));
            } else if let Some(top) = heap.peek()
                && score > top.0
            {
                heap.pop();
                heap.push(MinScore(score, row));
            }
        }
        let mut hits: Vec<Hit> = heap
            .into_iter()
            .map(|MinScore(score, row)| Hit {
                id: seg.ids[row],
                score,
            })
            .collect();
        // Best first; equal scores: newer row first.
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.id.cmp(&a.id)));
        hits
    }
}

/// Heap entry ordered so that the smallest score is on top.
struct MinScore(f32, usize);

impl PartialEq for MinScore {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for MinScore {}
impl PartialOrd for MinScore {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for MinScore {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

/// Dot product with independent accumulators so the compiler can keep
/// several SIMD lanes busy (float addition is not reassociated on its own).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(dim: usize, hot: usize) -> Vec<f32> {
        let mut v = vec![0.0; dim];
        v[hot] = 1.0;
        v
    }

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..385).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..385).map(|i| (i as f32 * 0.11).cos()).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
    }

    #[test]
    fn search_filters_by_namespace_and_session() {
        let mut idx = VectorIndex::new(4);
        idx.insert(1, "a", "s1", &unit(4, 0));
        idx.insert(2, "a", "s2", &unit(4, 0));
        idx.insert(3, "b", "s1", &unit(4, 0));
        idx.insert(4, "a", "s1", &unit(4, 1));
        let q = unit(4, 0);
        let ids = |hits: Vec<Hit>| hits.into_iter().map(|h| h.id).collect::<Vec<_>>();
        assert_eq!(ids(idx.search("a", None, &q, 2)), vec![2, 1]);
        assert_eq!(ids(idx.search("a", Some("s1"), &q, 1)), vec![1]);
        assert_eq!(ids(idx.search("b", None, &q, 10)), vec![3]);
        assert!(idx.search("c", None, &q, 10).is_empty());
        assert!(idx.search("a", Some("nope"), &q, 10).is_empty());
    }

    #[test]
    fn remove_keeps_positions_consistent() {
        let mut idx = VectorIndex::new(4);
        for id in 0..10 {
            idx.insert(id, "n", "s", &unit(4, (id % 4) as usize));
        }
        idx.remove("n", &[0, 5, 9, 42]);
        assert_eq!(idx.len(), 7);
        let all: Vec<i64> = idx
            .search("n", None, &unit(4, 1), 10)
            .into_iter()
            .map(|h| h.id)
            .collect();
        assert_eq!(all.len(), 7);
        assert!(!all.contains(&5) && !all.contains(&9) && !all.contains(&0));
        let top: Vec<i64> = idx
            .search("n", None, &unit(4, 1), 1)
            .into_iter()
            .map(|h| h.id)
            .collect();
        assert_eq!(top, vec![1]);
        idx.remove("n", &[1, 2, 3, 4, 6, 7, 8]);
        assert!(idx.is_empty());
    }

    #[test]
    fn top_k_is_exact() {
        let dim = 8;
        let mut idx = VectorIndex::new(dim);
        let mut rows = Vec::new();
        for id in 0..500i64 {
            let v: Vec<f32> = (0..dim)
                .map(|d| ((id as f32 + 1.0) * (d as f32 + 0.5)).sin())
                .collect();
            idx.insert(id, "n", "s", &v);
            rows.push((id, v));
        }
        let q: Vec<f32> = (0..dim).map(|d| (d as f32).cos()).collect();
        let mut expect: Vec<(i64, f32)> = rows.iter().map(|(id, v)| (*id, dot(&q, v))).collect();
        expect.sort_by(|a, b| b.1.total_cmp(&a.1));
        let got: Vec<i64> = idx
            .search("n", None, &q, 10)
            .into_iter()
            .map(|h| h.id)
            .collect();
        let want: Vec<i64> = expect[..10].iter().map(|e| e.0).collect();
        assert_eq!(got, want);
    }
}
