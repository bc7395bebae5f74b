//! One namespace's vectors: a single flat cell scanned exactly while the
//! namespace is small, an inverted file of cells (spherical k-means
//! centroids, each cell's vectors contiguous) once it is large. Cells that
//! outgrow twice the target size split in two (2-means on their own rows),
//! so the partition follows the data between whole re-clusterings, which
//! happen only when the namespace has doubled (see `index::recluster`).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use super::kernels::{dot, normalize, scores, scores_u8};
use super::kmeans;

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

/// Per-dimension 8-bit scalar quantisation: `x ≈ lo[d] + code · step[d]`.
#[derive(Debug, Clone)]
pub(super) struct Quantizer {
    lo: Vec<f32>,
    step: Vec<f32>,
}

impl Quantizer {
    /// Spans each dimension's range over `rows` (values outside it later
    /// are clamped; the exact re-scoring absorbs that error).
    fn fit<'a>(rows: impl Iterator<Item = &'a [f32]>, dim: usize) -> Self {
        let mut lo = vec![f32::INFINITY; dim];
        let mut hi = vec![f32::NEG_INFINITY; dim];
        for row in rows {
            for d in 0..dim {
                lo[d] = lo[d].min(row[d]);
                hi[d] = hi[d].max(row[d]);
            }
        }
        let step = lo
            .iter()
            .zip(&hi)
            .map(|(l, h)| if h > l { (h - l) / 255.0 } else { 1.0 })
            .collect();
        let lo = lo
            .into_iter()
            .map(|l| if l.is_finite() { l } else { 0.0 })
            .collect();
        Self { lo, step }
    }

    fn encode(&self, v: &[f32], out: &mut Vec<u8>) {
        out.extend(
            v.iter()
                .zip(self.lo.iter().zip(&self.step))
                .map(|(x, (l, s))| ((x - l) / s).round().clamp(0.0, 255.0) as u8),
        );
    }

    /// The query folded into the code space: `(w, bias)` with
    /// `q·x ≈ bias + Σ w[d] · code[d]`.
    fn prepare(&self, q: &[f32]) -> (Vec<f32>, f32) {
        let w = q.iter().zip(&self.step).map(|(a, s)| a * s).collect();
        let bias = q.iter().zip(&self.lo).map(|(a, l)| a * l).sum();
        (w, bias)
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
    fn partition(&mut self, dim: usize, params: &Params) {
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
    fn flatten(&mut self, dim: usize) {
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
    fn split(&mut self, c: usize, dim: usize) -> bool {
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
    fn nearest_cell(&self, v: &[f32], dim: usize) -> usize {
        let mut s = vec![0f32; self.centroids.len() / dim];
        scores(v, &self.centroids, &mut s);
        kmeans::argmax(&s)
    }

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

/// Small numbers standing for session ids (4 bytes a row instead of a
/// string); a session's number is freed with its last row, so sessions
/// deleted over the years leave nothing behind.
#[derive(Debug, Default)]
struct SessionCodes {
    by_name: HashMap<String, u32>,
    /// code -> (session id, rows holding the code)
    names: HashMap<u32, (String, u32)>,
    next: u32,
}

impl SessionCodes {
    fn code(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    fn acquire(&mut self, name: &str) -> u32 {
        if let Some(&c) = self.by_name.get(name) {
            if let Some(entry) = self.names.get_mut(&c) {
                entry.1 += 1;
            }
            return c;
        }
        while self.names.contains_key(&self.next) {
            self.next = self.next.wrapping_add(1);
        }
        let c = self.next;
        self.next = self.next.wrapping_add(1);
        self.by_name.insert(name.to_owned(), c);
        self.names.insert(c, (name.to_owned(), 1));
        c
    }

    fn release(&mut self, code: u32) {
        if let Some(entry) = self.names.get_mut(&code) {
            entry.1 -= 1;
            if entry.1 == 0
                && let Some((name, _)) = self.names.remove(&code)
            {
                self.by_name.remove(&name);
            }
        }
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
