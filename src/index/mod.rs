//! In-memory vector index over the current model's exchange vectors.
//!
//! SQLite is the source of truth: the index is rebuilt from it at start-up
//! (placing rows where the layout saved at the last checkpoint put them, so
//! nothing is re-clustered) and updated by the store's writer after each
//! commit, before the write is acknowledged, so a recall issued after an
//! acknowledged write or delete sees it.
//!
//! Vectors are partitioned by namespace, so the namespace filter is the
//! partition, and the session filter is applied inside the scan: filtered
//! searches never over-fetch. A namespace is searched exactly while it is
//! small and through an inverted file of k-means cells (IVF) once it passes
//! `index.ann_min_vectors` (see [`segment`]).

mod kernels;
mod kmeans;
pub mod persist;
mod segment;

use std::collections::HashMap;

pub use kernels::{dot, normalize};
pub use segment::Params;
use segment::{Clustering, Segment};

#[derive(Debug)]
pub struct VectorIndex {
    dim: usize,
    params: Params,
    /// `params.nprobe`, changeable under the read lock (a reload must not
    /// queue behind a long re-clustering that holds it).
    nprobe: std::sync::atomic::AtomicUsize,
    namespaces: HashMap<String, Segment>,
    /// While bulk loading: row id -> cell, per namespace, from the saved
    /// layout. Partitioning and splitting wait for [`VectorIndex::finish_bulk`].
    bulk: Option<HashMap<String, HashMap<i64, u32>>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: i64,
    pub score: f32,
}

/// Shape of the index, for status and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IndexStats {
    pub vectors: usize,
    pub namespaces: usize,
    /// Namespaces searched through cells rather than exactly.
    pub ann_namespaces: usize,
    pub cells: usize,
    /// Cells scanned per query.
    pub nprobe: usize,
}

impl VectorIndex {
    pub fn new(dim: usize) -> Self {
        Self::with_params(dim, Params::default())
    }

    pub fn with_params(dim: usize, params: Params) -> Self {
        Self {
            dim,
            nprobe: params.nprobe.into(),
            params,
            namespaces: HashMap::new(),
            bulk: None,
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn params(&self) -> Params {
        Params {
            nprobe: self.nprobe(),
            ..self.params
        }
    }

    fn nprobe(&self) -> usize {
        self.nprobe.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Changes how many cells a query scans (applies to the next search).
    pub fn set_nprobe(&self, nprobe: usize) {
        self.nprobe
            .store(nprobe.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    pub fn len(&self) -> usize {
        self.namespaces.values().map(Segment::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> IndexStats {
        let mut s = IndexStats {
            namespaces: self.namespaces.len(),
            nprobe: self.nprobe(),
            ..IndexStats::default()
        };
        for seg in self.namespaces.values() {
            s.vectors += seg.len();
            if seg.is_partitioned() {
                s.ann_namespaces += 1;
                s.cells += seg.cells.len();
            }
        }
        s
    }

    /// Starts a bulk load: inserts only place rows (in the saved layout's
    /// cells when `layout` knows them) until [`finish_bulk`](Self::finish_bulk).
    pub fn begin_bulk(&mut self, layout: Option<persist::Layout>) {
        let mut cells = HashMap::new();
        if let Some(layout) = layout {
            for (ns, l) in layout.namespaces {
                if l.centroids.len() == l.cells.len() * self.dim && !l.cells.is_empty() {
                    cells.insert(ns.clone(), l.cell_of());
                    self.namespaces
                        .insert(ns, Segment::with_centroids(l.centroids, self.dim));
                }
            }
        }
        self.bulk = Some(cells);
    }

    /// Ends a bulk load: partitions the namespaces that have grown large,
    /// splits oversized cells, and drops namespaces left empty.
    pub fn finish_bulk(&mut self) {
        self.bulk = None;
        let (dim, params) = (self.dim, self.params);
        self.namespaces.retain(|_, seg| seg.len() > 0);
        for seg in self.namespaces.values_mut() {
            seg.settle(dim, &params);
        }
    }

    /// Adds or replaces the vector of row `id`. Vectors of another
    /// dimension are ignored: they belong to another model.
    pub fn insert(&mut self, id: i64, namespace: &str, session_id: &str, vector: &[f32]) {
        if vector.len() != self.dim {
            return;
        }
        let cell = self
            .bulk
            .as_ref()
            .and_then(|b| b.get(namespace))
            .and_then(|m| m.get(&id).copied());
        let maintain = self.bulk.is_none();
        let seg = match self.namespaces.get_mut(namespace) {
            Some(s) => s,
            None => self.namespaces.entry(namespace.to_owned()).or_default(),
        };
        seg.insert(id, session_id, vector, cell, &self.params, maintain);
    }

    /// Removes rows; unknown ids are ignored.
    pub fn remove(&mut self, namespace: &str, ids: &[i64]) {
        let Some(seg) = self.namespaces.get_mut(namespace) else {
            return;
        };
        seg.remove(ids, self.dim, &self.params);
        if seg.len() == 0 {
            self.namespaces.remove(namespace);
        }
    }

    /// True when `namespace` has doubled since it was last clustered.
    pub fn needs_repartition(&self, namespace: &str) -> bool {
        self.namespaces
            .get(namespace)
            .is_some_and(Segment::needs_repartition)
    }

    /// The cells of every partitioned namespace, to save at checkpoints.
    pub fn layout(&self) -> persist::Layout {
        let namespaces = self
            .namespaces
            .iter()
            .filter(|(_, seg)| seg.is_partitioned())
            .map(|(ns, seg)| {
                let l = persist::NamespaceLayout {
                    centroids: seg.centroids.clone(),
                    cells: seg.cells.iter().map(|c| c.ids.clone()).collect(),
                };
                (ns.clone(), l)
            })
            .collect();
        persist::Layout {
            dim: self.dim,
            namespaces,
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
        seg.search(query, k, session_id, self.nprobe())
            .into_iter()
            .map(|(score, id)| Hit { id, score })
            .collect()
    }
}

/// What [`recluster`] did, for the log.
#[derive(Debug, Clone, Copy)]
pub struct Reclustered {
    pub vectors: usize,
    pub cells: usize,
    /// Spent computing (no lock held but brief read locks).
    pub compute: std::time::Duration,
    /// Spent moving the rows under the write lock.
    pub swap: std::time::Duration,
}

/// Clusters `namespace` afresh while the index stays in use: the sample is
/// copied under a read lock, k-means runs with no lock, rows are assigned
/// a few cells at a time under short read locks (writes go on in between),
/// and only the final move of the rows takes the write lock. Rows written
/// meanwhile go to their nearest new cell then; rows deleted are skipped.
pub fn recluster(index: &std::sync::RwLock<VectorIndex>, namespace: &str) -> Option<Reclustered> {
    let read = || index.read().unwrap_or_else(|p| p.into_inner());
    let started = std::time::Instant::now();
    let (dim, params, sample, k) = {
        let idx = read();
        let seg = idx.namespaces.get(namespace)?;
        if !seg.is_partitioned() {
            return None;
        }
        let params = idx.params();
        let k = params.cells_for(seg.len());
        (idx.dim, params, seg.sample(idx.dim, &params), k)
    };
    let clustering = Clustering::train(&sample, dim, k);
    drop(sample);
    let mut owners: HashMap<i64, u32> = HashMap::new();
    let mut next = 0usize;
    loop {
        let idx = read();
        let seg = idx.namespaces.get(namespace)?;
        if next >= seg.cell_count() {
            break;
        }
        let to = next + 64;
        owners.extend(seg.assign_cells(next, to, &clustering, dim));
        next = to;
    }
    let compute = started.elapsed();
    let swap_started = std::time::Instant::now();
    let mut idx = index.write().unwrap_or_else(|p| p.into_inner());
    let seg = idx.namespaces.get_mut(namespace)?;
    if !seg.is_partitioned() {
        // It shrank back to an exact scan meanwhile; nothing to place.
        return None;
    }
    seg.apply(clustering, &owners, dim, &params);
    Some(Reclustered {
        vectors: seg.len(),
        cells: seg.cell_count(),
        compute,
        swap: swap_started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_defaults_are_the_index_defaults() {
        assert_eq!(
            crate::config::IndexConfig::default().params(),
            Params::default()
        );
    }

    fn unit(dim: usize, hot: usize) -> Vec<f32> {
        let mut v = vec![0.0; dim];
        v[hot] = 1.0;
        v
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

    /// Clustered unit vectors: `n` rows around 20 random directions.
    fn clustered(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut s = seed;
        let mut rnd = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let centres: Vec<Vec<f32>> = (0..20)
            .map(|_| {
                let mut c: Vec<f32> = (0..dim).map(|_| rnd()).collect();
                normalize(&mut c);
                c
            })
            .collect();
        (0..n)
            .map(|i| {
                let c = &centres[i % 20];
                let mut v: Vec<f32> = c.iter().map(|x| x + rnd() * 0.15).collect();
                normalize(&mut v);
                v
            })
            .collect()
    }

    fn small_params() -> Params {
        Params {
            ann_min_vectors: 500,
            cell_factor: 1.0,
            nprobe: 6,
        }
    }

    fn exact_top(rows: &[Vec<f32>], q: &[f32], k: usize) -> Vec<i64> {
        let mut all: Vec<(f32, i64)> = rows
            .iter()
            .enumerate()
            .map(|(i, v)| (dot(q, v), i as i64))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        all[..k].iter().map(|x| x.1).collect()
    }

    fn recall_at_10(idx: &VectorIndex, rows: &[Vec<f32>], queries: &[Vec<f32>]) -> f64 {
        let mut found = 0;
        for q in queries {
            let want = exact_top(rows, q, 10);
            let got: Vec<i64> = idx.search("n", None, q, 10).iter().map(|h| h.id).collect();
            found += want.iter().filter(|id| got.contains(id)).count();
        }
        found as f64 / (queries.len() * 10) as f64
    }

    #[test]
    fn large_namespaces_are_partitioned_and_still_find_their_neighbours() {
        let dim = 16;
        let rows = clustered(3000, dim, 1);
        let queries = clustered(50, dim, 99);
        let mut idx = VectorIndex::with_params(dim, small_params());
        for (i, v) in rows.iter().enumerate() {
            idx.insert(i as i64, "n", &format!("s{}", i % 7), v);
        }
        let st = idx.stats();
        assert_eq!(st.vectors, 3000);
        assert_eq!(st.ann_namespaces, 1);
        assert!(st.cells >= 40, "cells split as they grow: {st:?}");
        let r = recall_at_10(&idx, &rows, &queries);
        assert!(r >= 0.9, "recall@10 {r}");
        // Probing every cell is exact.
        idx.set_nprobe(100_000);
        assert_eq!(recall_at_10(&idx, &rows, &queries), 1.0);

        // The session filter is exact even when partitioned.
        let got: Vec<i64> = idx
            .search("n", Some("s3"), &queries[0], 10)
            .iter()
            .map(|h| h.id)
            .collect();
        let s3: Vec<Vec<f32>> = rows
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if i % 7 == 3 {
                    v.clone()
                } else {
                    vec![-1.0; dim]
                }
            })
            .collect();
        assert_eq!(got, exact_top(&s3, &queries[0], 10));

        // Deleting most rows goes back to one exact cell.
        let gone: Vec<i64> = (0..2900).collect();
        idx.remove("n", &gone);
        let st = idx.stats();
        assert_eq!((st.vectors, st.ann_namespaces), (100, 0));
        let top = idx.search("n", None, &rows[2950], 1);
        assert_eq!(top[0].id, 2950);
    }

    #[test]
    fn a_saved_layout_reloads_to_the_same_answers() {
        let dim = 16;
        let rows = clustered(2000, dim, 5);
        let queries = clustered(30, dim, 77);
        let mut idx = VectorIndex::with_params(dim, small_params());
        for (i, v) in rows.iter().enumerate() {
            idx.insert(i as i64, "n", "s", v);
        }
        idx.remove("n", &[5, 6, 7]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layout");
        persist::save(&idx.layout(), "m", &path).unwrap();

        let ids = |idx: &VectorIndex, q: &[f32]| -> Vec<i64> {
            idx.search("n", None, q, 10).iter().map(|h| h.id).collect()
        };

        // The same rows from "SQLite" plus the layout: the same cells and
        // the same answers.
        let mut same = VectorIndex::with_params(dim, small_params());
        same.begin_bulk(persist::load(&path, "m", dim).unwrap());
        for (i, v) in rows.iter().enumerate() {
            if !(5..=7).contains(&i) {
                same.insert(i as i64, "n", "s", v);
            }
        }
        same.finish_bulk();
        assert_eq!(same.stats(), idx.stats());
        for q in &queries {
            assert_eq!(ids(&same, q), ids(&idx, q));
        }

        // Rows the layout never saw go to their nearest cell; rows it saw
        // that the database no longer has are simply absent.
        let mut changed = VectorIndex::with_params(dim, small_params());
        changed.begin_bulk(persist::load(&path, "m", dim).unwrap());
        for (i, v) in rows.iter().enumerate() {
            if !(5..=9).contains(&i) {
                changed.insert(i as i64, "n", "s", v);
            }
        }
        let extra = clustered(2, dim, 1234);
        changed.insert(5000, "n", "s", &extra[0]);
        changed.insert(5001, "n", "s", &extra[1]);
        changed.finish_bulk();
        assert_eq!(changed.len(), 1997);
        assert_eq!(changed.search("n", None, &extra[1], 1)[0].id, 5001);
        assert!(
            changed
                .search("n", None, &rows[8], 10)
                .iter()
                .all(|h| h.id != 8)
        );
    }

    #[test]
    fn bulk_load_without_a_layout_partitions_once() {
        let dim = 16;
        let rows = clustered(1500, dim, 3);
        let mut idx = VectorIndex::with_params(dim, small_params());
        idx.begin_bulk(None);
        for (i, v) in rows.iter().enumerate() {
            idx.insert(i as i64, "n", "s", v);
        }
        assert_eq!(idx.stats().ann_namespaces, 0, "nothing partitions mid-load");
        idx.finish_bulk();
        let st = idx.stats();
        assert_eq!(st.ann_namespaces, 1);
        assert!(st.cells >= 30, "{st:?}");
        assert!(recall_at_10(&idx, &rows, &clustered(30, dim, 8)) >= 0.9);
    }

    #[test]
    fn a_namespace_that_doubled_is_reclustered_and_keeps_its_answers() {
        let dim = 16;
        let rows = clustered(2000, dim, 11);
        let queries = clustered(30, dim, 12);
        let mut idx = VectorIndex::with_params(dim, small_params());
        for (i, v) in rows.iter().enumerate().take(600) {
            idx.insert(i as i64, "n", "s", v);
        }
        assert!(!idx.needs_repartition("n"), "just clustered at 500");
        for (i, v) in rows.iter().enumerate().skip(600).take(1300) {
            idx.insert(i as i64, "n", "s", v);
        }
        assert!(idx.needs_repartition("n"));
        let lock = std::sync::RwLock::new(idx);
        let done = recluster(&lock, "n").unwrap();
        assert_eq!(done.vectors, 1900);
        let mut idx = lock.into_inner().unwrap();
        assert!(!idx.needs_repartition("n"));
        // Rows written after the re-clustering are placed as usual.
        for (i, v) in rows.iter().enumerate().skip(1900) {
            idx.insert(i as i64, "n", "s", v);
        }
        assert_eq!(idx.len(), 2000);
        assert!(recall_at_10(&idx, &rows, &queries) >= 0.9);
        idx.remove("n", &[0]);
        assert!(
            idx.search("n", None, &rows[0], 10)
                .iter()
                .all(|h| h.id != 0)
        );
        assert!(recluster(&std::sync::RwLock::new(VectorIndex::new(4)), "none").is_none());
    }

    #[test]
    fn deleted_sessions_leave_no_session_codes_behind() {
        let mut idx = VectorIndex::new(4);
        for i in 0..30i64 {
            idx.insert(i, "n", &format!("s{}", i % 10), &unit(4, (i % 4) as usize));
        }
        // Re-inserting a row (a re-embedding) keeps its session.
        idx.insert(3, "n", "s3", &unit(4, 2));
        assert_eq!(idx.namespaces["n"].session_count(), 10);
        let s3: Vec<i64> = (0..30).filter(|i| i % 10 == 3).collect();
        idx.remove("n", &s3);
        assert_eq!(idx.namespaces["n"].session_count(), 9);
        assert!(idx.search("n", Some("s3"), &unit(4, 2), 10).is_empty());
        assert_eq!(idx.search("n", Some("s4"), &unit(4, 0), 10).len(), 3);
        // A new session after a freed one gets a fresh code and is found.
        idx.insert(100, "n", "new", &unit(4, 1));
        assert_eq!(idx.search("n", Some("new"), &unit(4, 1), 10)[0].id, 100);
    }
}
