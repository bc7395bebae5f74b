//! One namespace's vectors: a single flat cell scanned exactly while the
//! namespace is small, an inverted file of cells (spherical k-means
//! centroids, each cell's vectors contiguous) once it is large. Cells that
//! outgrow twice the target size split in two (2-means on their own rows),
//! so the partition follows the data between whole re-clusterings, which
//! happen only when the namespace has doubled (see `index::recluster`).

mod partition;
mod quantizer;
mod scan;
mod session_codes;

use std::collections::HashMap;

pub use partition::Clustering;
use quantizer::Quantizer;
use session_codes::SessionCodes;

/// How the index trades recall for speed; see `[index]` in the config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// A namespace with at least this many vectors is partitioned into
    /// cells; below half of it, it goes back to one exact flat scan.
    pub ann_min_vectors: usize,
    /// Cells per square root of the namespace's size when it is
    /// partitioned (4·√n: 1,265 cells of ~80 vectors at 100,000).
    pub cell_factor: f64,
    /// Cells scanned per query (the ones whose centroids are nearest).
    pub nprobe: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            ann_min_vectors: 20_000,
            cell_factor: 4.0,
            nprobe: 16,
        }
    }
}

impl crate::config::IndexConfig {
    /// The index parameters these settings describe. Defined here, beside
    /// [`Params`], so that the configuration needs nothing from the index.
    pub fn params(&self) -> Params {
        Params {
            ann_min_vectors: self.ann_min_vectors,
            cell_factor: self.cell_factor,
            nprobe: self.nprobe,
        }
    }
}

impl Params {
    /// Cells to partition `n` vectors into.
    pub fn cells_for(&self, n: usize) -> usize {
        ((self.cell_factor * (n as f64).sqrt()).round() as usize).clamp(1, n.max(1))
    }

    /// A cell splits once it holds more than twice the average cell of a
    /// namespace of `n` vectors (never below 32, so cells stay worth a
    /// centroid).
    pub fn split_above(&self, n: usize) -> usize {
        ((2.0 * (n as f64).sqrt() / self.cell_factor).ceil() as usize).max(32)
    }
}

#[derive(Debug, Default)]
pub(super) struct Cell {
    pub ids: Vec<i64>,
    sessions: Vec<u32>,
    /// Row-major `ids.len() x dim`.
    data: Vec<f32>,
    /// 8-bit codes of `data` (same layout) while the segment is
    /// partitioned; scanned first, the best candidates re-scored on `data`.
    codes: Vec<u8>,
}

impl Cell {
    fn push(&mut self, id: i64, session: u32, v: &[f32], quant: Option<&Quantizer>) {
        self.ids.push(id);
        self.sessions.push(session);
        self.data.extend_from_slice(v);
        if let Some(q) = quant {
            q.encode(v, &mut self.codes);
        }
    }

    fn row(&self, r: usize, dim: usize) -> &[f32] {
        &self.data[r * dim..(r + 1) * dim]
    }
}

#[derive(Debug, Default)]
pub(super) struct Segment {
    pub cells: Vec<Cell>,
    /// One unit centroid per cell once partitioned; empty while flat.
    pub centroids: Vec<f32>,
    /// Row id -> (cell, slot in the cell).
    pos: HashMap<i64, (u32, u32)>,
    sessions: SessionCodes,
    /// Rows the segment had when it was last clustered as a whole.
    partitioned_at: usize,
    /// Set while partitioned and every cell's `codes` are current.
    quant: Option<Quantizer>,
}

impl Segment {
    pub fn len(&self) -> usize {
        self.pos.len()
    }

    /// Sessions with at least one row here.
    #[cfg(test)]
    pub fn session_count(&self) -> usize {
        self.sessions.by_name.len()
    }

    pub fn is_partitioned(&self) -> bool {
        !self.centroids.is_empty()
    }

    /// A partitioned segment with the given centroids and no rows yet (the
    /// layout saved by the last checkpoint).
    pub fn with_centroids(centroids: Vec<f32>, dim: usize) -> Self {
        let cells = (0..centroids.len() / dim)
            .map(|_| Cell::default())
            .collect();
        Self {
            cells,
            centroids,
            ..Self::default()
        }
    }

    /// Adds or replaces row `id`. `cell` places it without looking (bulk
    /// loading from a saved layout); otherwise it goes to the nearest cell.
    /// With `maintain` the cell splits or the segment partitions right away
    /// when it has grown past its bounds; bulk loads call [`settle`] once.
    pub fn insert(
        &mut self,
        id: i64,
        session_id: &str,
        vector: &[f32],
        cell: Option<u32>,
        params: &Params,
        maintain: bool,
    ) {
        let dim = vector.len();
        if self.pos.contains_key(&id) {
            self.remove_row(id, dim);
        }
        let sess = self.sessions.acquire(session_id);
        let cell = match cell {
            Some(c) if (c as usize) < self.cells.len() => c as usize,
            _ if self.is_partitioned() => self.nearest_cell(vector, dim),
            _ => 0,
        };
        if self.cells.is_empty() {
            self.cells.push(Cell::default());
        }
        let c = &mut self.cells[cell];
        self.pos.insert(id, (cell as u32, c.ids.len() as u32));
        c.push(id, sess, vector, self.quant.as_ref());
        if maintain {
            if self.is_partitioned() {
                if self.cells[cell].ids.len() > params.split_above(self.len()) {
                    self.split(cell, dim);
                }
            } else if self.len() >= params.ann_min_vectors {
                self.partition(dim, params);
            }
        }
    }

    /// Removes rows; unknown ids are ignored.
    pub fn remove(&mut self, ids: &[i64], dim: usize, params: &Params) {
        for &id in ids {
            self.remove_row(id, dim);
        }
        if self.is_partitioned() && self.len() < params.ann_min_vectors / 2 {
            self.flatten(dim);
        }
    }

    fn remove_row(&mut self, id: i64, dim: usize) -> bool {
        let Some((c, s)) = self.pos.remove(&id) else {
            return false;
        };
        let cell = &mut self.cells[c as usize];
        let s = s as usize;
        self.sessions.release(cell.sessions[s]);
        let last = cell.ids.len() - 1;
        if s != last {
            let moved = cell.ids[last];
            cell.ids.swap(s, last);
            cell.sessions.swap(s, last);
            let (head, tail) = cell.data.split_at_mut(last * dim);
            head[s * dim..(s + 1) * dim].copy_from_slice(&tail[..dim]);
            if !cell.codes.is_empty() {
                cell.codes
                    .copy_within(last * dim..(last + 1) * dim, s * dim);
            }
            self.pos.insert(moved, (c, s as u32));
        }
        cell.ids.pop();
        cell.sessions.pop();
        cell.data.truncate(last * dim);
        cell.codes.truncate(last * dim);
        true
    }
}
