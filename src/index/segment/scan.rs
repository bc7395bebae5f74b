//! The search of a segment: the nearest cells' 8-bit codes first, their
//! best candidates re-scored exactly; or an exact scan.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::Segment;
use crate::index::kernels::{dot, scores, scores_u8};

impl Segment {
    /// The `n` cells whose centroids score highest against `query`.
    fn nearest_cells(&self, query: &[f32], dim: usize, n: usize) -> Vec<usize> {
        let k = self.centroids.len() / dim;
        let mut s = vec![0f32; k];
        scores(query, &self.centroids, &mut s);
        let mut order: Vec<usize> = (0..k).collect();
        if n < k {
            order.select_nth_unstable_by(n, |a, b| s[*b].total_cmp(&s[*a]));
            order.truncate(n);
        }
        order
    }

    /// Top `k` rows by dot product with `query`: exact when the segment is
    /// flat or a session is named (only that session's rows are scored),
    /// else over the `nprobe` nearest cells.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        session_id: Option<&str>,
        nprobe: usize,
    ) -> Vec<(f32, i64)> {
        let dim = query.len();
        let session = match session_id {
            Some(s) => match self.sessions.code(s) {
                Some(code) => Some(code),
                None => return Vec::new(),
            },
            None => None,
        };
        let probe: Vec<usize> =
            if session.is_some() || !self.is_partitioned() || nprobe >= self.cells.len() {
                (0..self.cells.len()).collect()
            } else {
                self.nearest_cells(query, dim, nprobe.max(1))
            };
        let mut buf = Vec::new();
        if let (None, Some(quant)) = (session, &self.quant) {
            // Two passes: 8-bit codes pick the candidates, their f32
            // vectors give the exact scores and order.
            let (w, bias) = quant.prepare(query);
            let mut rough = TopK::new((3 * k).max(k + 20));
            for c in probe {
                let cell = &self.cells[c];
                buf.resize(cell.ids.len(), 0.0);
                scores_u8(&w, bias, &cell.codes, &mut buf);
                for (r, score) in buf.iter().enumerate() {
                    rough.push(*score, ((c as i64) << 32) | r as i64);
                }
            }
            let mut top = TopK::new(k);
            for (_, at) in rough.into_sorted() {
                let cell = &self.cells[(at >> 32) as usize];
                let r = (at & 0xffff_ffff) as usize;
                top.push(dot(query, cell.row(r, dim)), cell.ids[r]);
            }
            return top.into_sorted();
        }
        let mut top = TopK::new(k);
        for c in probe {
            let cell = &self.cells[c];
            match session {
                Some(code) => {
                    for (r, s) in cell.sessions.iter().enumerate() {
                        if *s == code {
                            top.push(dot(query, cell.row(r, dim)), cell.ids[r]);
                        }
                    }
                }
                None => {
                    buf.resize(cell.ids.len(), 0.0);
                    scores(query, &cell.data, &mut buf);
                    for (score, id) in buf.iter().zip(&cell.ids) {
                        top.push(*score, *id);
                    }
                }
            }
        }
        top.into_sorted()
    }
}

/// The `k` best (score, id) pairs seen so far.
struct TopK {
    k: usize,
    heap: BinaryHeap<MinScore>,
}

impl TopK {
    fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    #[inline]
    fn push(&mut self, score: f32, id: i64) {
        if self.heap.len() < self.k {
            self.heap.push(MinScore(score, id));
        } else if let Some(worst) = self.heap.peek()
            && score > worst.0
        {
            self.heap.pop();
            self.heap.push(MinScore(score, id));
        }
    }

    /// Best first; equal scores: the newer (higher) id first.
    fn into_sorted(self) -> Vec<(f32, i64)> {
        let mut v: Vec<(f32, i64)> = self.heap.into_iter().map(|m| (m.0, m.1)).collect();
        v.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        v
    }
}

/// Heap entry ordered so that the smallest score is on top.
struct MinScore(f32, i64);

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
        other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
    }
}
