//! How a segment's rows are spread over cells: partitioning by k-means,
//! splitting a cell that outgrew its bound, flattening back to one cell.

use std::collections::HashMap;

use super::quantizer::Quantizer;
use super::{Cell, Params, Segment};
use crate::index::kernels::{dot, normalize, scores};
use crate::index::kmeans;

/// Cell centres and the 8-bit quantiser trained on a sample of a segment.
pub struct Clustering {
    centroids: Vec<f32>,
    quant: Quantizer,
}

impl Clustering {
    pub fn train(sample: &[f32], dim: usize, k: usize) -> Self {
        Self {
            centroids: kmeans::train(sample, dim, k, 8),
            quant: Quantizer::fit(sample.chunks_exact(dim), dim),
        }
    }
}

impl Segment {
    /// Brings the segment within its bounds after a bulk load.
    pub fn settle(&mut self, dim: usize, params: &Params) {
        if self.is_partitioned() && self.len() < params.ann_min_vectors / 2 {
            self.flatten(dim);
        } else if !self.is_partitioned() && self.len() >= params.ann_min_vectors {
            self.partition(dim, params);
        } else if self.is_partitioned() {
            if self.partitioned_at == 0 {
                self.partitioned_at = self.len();
            }
            if self.quant.is_none() {
                let q = Quantizer::fit(
                    self.cells.iter().flat_map(|c| c.data.chunks_exact(dim)),
                    dim,
                );
                for cell in &mut self.cells {
                    cell.codes.clear();
                    for row in cell.data.chunks_exact(dim) {
                        q.encode(row, &mut cell.codes);
                    }
                }
                self.quant = Some(q);
            }
            self.split_oversized(dim, params);
        }
    }

    fn split_oversized(&mut self, dim: usize, params: &Params) {
        let limit = params.split_above(self.len());
        let mut c = 0;
        while c < self.cells.len() {
            while self.cells[c].ids.len() > limit {
                if !self.split(c, dim) {
                    break;
                }
            }
            c += 1;
        }
    }

    /// Partitions the segment in place (a flat segment reaching
    /// `ann_min_vectors`, or a bulk load): k-means on an evenly spaced
    /// sample, every row to its nearest centre.
    pub(super) fn partition(&mut self, dim: usize, params: &Params) {
        let n = self.len();
        if n == 0 {
            return;
        }
        let clustering = Clustering::train(&self.sample(dim, params), dim, params.cells_for(n));
        self.apply(clustering, &HashMap::new(), dim, params);
    }

    /// True once a partitioned segment has doubled since it was last
    /// clustered: splits alone keep cells small but not well placed.
    pub fn needs_repartition(&self) -> bool {
        self.is_partitioned() && self.len() >= 2 * self.partitioned_at.max(1)
    }

    /// An evenly spaced sample of the rows (16 per cell to be trained).
    pub fn sample(&self, dim: usize, params: &Params) -> Vec<f32> {
        let n = self.len();
        let sample_rows = (params.cells_for(n) * 16).min(n);
        let mut sample = Vec::with_capacity(sample_rows * dim);
        let mut next = 0usize;
        let mut global = 0usize;
        for cell in &self.cells {
            for row in cell.data.chunks_exact(dim) {
                if next < sample_rows
                    && global == (next as u64 * n as u64 / sample_rows as u64) as usize
                {
                    sample.extend_from_slice(row);
                    next += 1;
                }
                global += 1;
            }
        }
        sample
    }

    pub fn cell_count(&self) -> usize {
        self.cells.len()
    }

    /// The new cell of every row in cells `from..to` under `clustering`.
    pub fn assign_cells(
        &self,
        from: usize,
        to: usize,
        clustering: &Clustering,
        dim: usize,
    ) -> Vec<(i64, u32)> {
        let mut out = Vec::new();
        for cell in &self.cells[from.min(self.cells.len())..to.min(self.cells.len())] {
            let owner = kmeans::assign(&cell.data, dim, &clustering.centroids);
            out.extend(cell.ids.iter().copied().zip(owner));
        }
        out
    }

    /// Moves every row into its cell under `clustering`: the one `owners`
    /// names, else (rows added since the owners were computed) the nearest.
    pub fn apply(
        &mut self,
        clustering: Clustering,
        owners: &HashMap<i64, u32>,
        dim: usize,
        params: &Params,
    ) {
        let Clustering { centroids, quant } = clustering;
        let k = centroids.len() / dim;
        let mut assigned: Vec<Vec<u32>> = Vec::with_capacity(self.cells.len());
        let mut counts = vec![0usize; k];
        for cell in &self.cells {
            let known: Option<Vec<u32>> =
                cell.ids.iter().map(|id| owners.get(id).copied()).collect();
            let owner = known.unwrap_or_else(|| kmeans::assign(&cell.data, dim, &centroids));
            for &o in &owner {
                counts[o as usize] += 1;
            }
            assigned.push(owner);
        }
        let old = std::mem::replace(
            &mut self.cells,
            counts
                .iter()
                .map(|&c| Cell {
                    ids: Vec::with_capacity(c),
                    sessions: Vec::with_capacity(c),
                    data: Vec::with_capacity(c * dim),
                    codes: Vec::with_capacity(c * dim),
                })
                .collect(),
        );
        for (cell, owner) in old.into_iter().zip(assigned) {
            for (r, o) in owner.into_iter().enumerate() {
                let target = &mut self.cells[o as usize];
                self.pos.insert(cell.ids[r], (o, target.ids.len() as u32));
                target.push(
                    cell.ids[r],
                    cell.sessions[r],
                    cell.row(r, dim),
                    Some(&quant),
                );
            }
        }
        self.quant = Some(quant);
        self.centroids = centroids;
        self.partitioned_at = self.len();
        // k-means leaves some cells larger than a split would allow; split
        // them now so a reload from the saved layout ends in the same shape.
        self.split_oversized(dim, params);
    }

    /// Back to one flat cell (exact search) when the namespace has shrunk.
    pub(super) fn flatten(&mut self, dim: usize) {
        let mut flat = Cell::default();
        for cell in std::mem::take(&mut self.cells) {
            flat.ids.extend(cell.ids);
            flat.sessions.extend(cell.sessions);
            flat.data.extend(cell.data);
        }
        self.quant = None;
        for (slot, id) in flat.ids.iter().enumerate() {
            self.pos.insert(*id, (0, slot as u32));
        }
        debug_assert_eq!(flat.data.len(), flat.ids.len() * dim);
        self.centroids.clear();
        self.partitioned_at = 0;
        self.cells.push(flat);
    }

    /// Splits cell `c` in two by 2-means over its rows; the second half
    /// becomes a new cell. Returns false when it could not split (all rows
    /// identical would give an empty side: then it halves by position).
    pub(super) fn split(&mut self, c: usize, dim: usize) -> bool {
        let old = std::mem::take(&mut self.cells[c]);
        let n = old.ids.len();
        if n < 2 {
            self.cells[c] = old;
            return false;
        }
        let row = |r: usize| &old.data[r * dim..(r + 1) * dim];
        // Seeds: the row least like the cell's centroid, and the row least
        // like that one.
        let centre = &self.centroids[c * dim..(c + 1) * dim];
        let mut buf = vec![0f32; n];
        scores(centre, &old.data, &mut buf);
        let a = argmin(&buf);
        scores(row(a), &old.data, &mut buf);
        let b = argmin(&buf);
        let mut seeds = [row(a).to_vec(), row(b).to_vec()];
        let mut side = vec![false; n];
        for _ in 0..5 {
            let mut sums = [vec![0f32; dim], vec![0f32; dim]];
            for (r, sd) in side.iter_mut().enumerate() {
                let second = dot(&seeds[1], row(r)) > dot(&seeds[0], row(r));
                *sd = second;
                for (s, x) in sums[second as usize].iter_mut().zip(row(r)) {
                    *s += x;
                }
            }
            for s in sums.iter_mut() {
                normalize(s);
            }
            seeds = sums;
        }
        let ones = side.iter().filter(|s| **s).count();
        if ones == 0 || ones == n {
            for (r, s) in side.iter_mut().enumerate() {
                *s = r >= n / 2;
            }
            seeds = [centre.to_vec(), centre.to_vec()];
        }
        let new_cell = self.cells.len() as u32;
        let mut halves = [Cell::default(), Cell::default()];
        for (r, &sd) in side.iter().enumerate() {
            let h = sd as usize;
            let target = &mut halves[h];
            let cell_no = if h == 0 { c as u32 } else { new_cell };
            self.pos
                .insert(old.ids[r], (cell_no, target.ids.len() as u32));
            target.push(old.ids[r], old.sessions[r], row(r), self.quant.as_ref());
        }
        let [first, second] = halves;
        self.cells[c] = first;
        self.cells.push(second);
        let [s0, s1] = seeds;
        self.centroids[c * dim..(c + 1) * dim].copy_from_slice(&s0);
        self.centroids.extend_from_slice(&s1);
        true
    }

    /// The cell whose centroid scores highest against `v`.
    pub(super) fn nearest_cell(&self, v: &[f32], dim: usize) -> usize {
        let mut s = vec![0f32; self.centroids.len() / dim];
        scores(v, &self.centroids, &mut s);
        kmeans::argmax(&s)
    }
}

fn argmin(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x < v[best] {
            best = i;
        }
    }
    best
}
