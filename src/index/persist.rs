//! The index layout saved at checkpoints: each partitioned namespace's
//! centroids and the row ids of every cell. It holds no vectors — those
//! stay in SQLite — so start-up reads the vectors from the database and
//! places each row in its saved cell instead of clustering a million
//! vectors again. A row the file does not know goes to its nearest cell;
//! an id the database no longer has is simply never placed. A file that is
//! missing, torn or from another model is ignored and the index is rebuilt.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"MEMDIVF2";

#[derive(Debug, Default)]
pub struct Layout {
    pub dim: usize,
    pub namespaces: HashMap<String, NamespaceLayout>,
}

#[derive(Debug, Default)]
pub struct NamespaceLayout {
    pub centroids: Vec<f32>,
    /// Row ids of each cell, in cell order.
    pub cells: Vec<Vec<i64>>,
}

impl NamespaceLayout {
    /// Row id -> cell, for placing rows while loading.
    pub fn cell_of(&self) -> HashMap<i64, u32> {
        let mut map = HashMap::with_capacity(self.cells.iter().map(Vec::len).sum());
        for (c, ids) in self.cells.iter().enumerate() {
            map.extend(ids.iter().map(|id| (*id, c as u32)));
        }
        map
    }
}

/// FNV-1a over the body, so a torn or altered file is refused.
fn checksum(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Layout {
    fn encode(&self, model: &str) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&(model.len() as u32).to_le_bytes());
        b.extend_from_slice(model.as_bytes());
        b.extend_from_slice(&(self.dim as u32).to_le_bytes());
        b.extend_from_slice(&(self.namespaces.len() as u32).to_le_bytes());
        for (ns, l) in &self.namespaces {
            b.extend_from_slice(&(ns.len() as u32).to_le_bytes());
            b.extend_from_slice(ns.as_bytes());
            b.extend_from_slice(&(l.cells.len() as u32).to_le_bytes());
            for x in &l.centroids {
                b.extend_from_slice(&x.to_le_bytes());
            }
            for ids in &l.cells {
                b.extend_from_slice(&(ids.len() as u32).to_le_bytes());
                for id in ids {
                    b.extend_from_slice(&id.to_le_bytes());
                }
            }
        }
        let sum = checksum(&b);
        b.extend_from_slice(&sum.to_le_bytes());
        b
    }

    fn decode(bytes: &[u8], model: &str, dim: usize) -> Result<Option<Layout>, String> {
        if bytes.len() < MAGIC.len() + 8 || &bytes[..8] != MAGIC {
            return Err("not a memd index layout".into());
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        if checksum(body) != u64::from_le_bytes(sum.try_into().expect("8 bytes")) {
            return Err("checksum mismatch (torn or altered file)".into());
        }
        let mut r = Reader { b: &body[8..] };
        let name_len = r.u32()? as usize;
        let saved_model = std::str::from_utf8(r.take(name_len)?).map_err(|e| e.to_string())?;
        let saved_dim = r.u32()? as usize;
        if saved_model != model || saved_dim != dim {
            // Another model's layout: nothing in it applies.
            return Ok(None);
        }
        let mut layout = Layout {
            dim,
            namespaces: HashMap::new(),
        };
        for _ in 0..r.u32()? {
            let len = r.u32()? as usize;
            let ns = std::str::from_utf8(r.take(len)?)
                .map_err(|e| e.to_string())?
                .to_owned();
            let count = r.u32()? as usize;
            let centroids = r
                .take(count * dim * 4)?
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect();
            let mut cells = Vec::with_capacity(count);
            for _ in 0..count {
                let rows = r.u32()? as usize;
                let ids = r
                    .take(rows * 8)?
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect();
                cells.push(ids);
            }
            layout
                .namespaces
                .insert(ns, NamespaceLayout { centroids, cells });
        }
        Ok(Some(layout))
    }
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.b.len() < n {
            return Err("file ends early".into());
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
}

/// Writes the layout atomically (temporary file, fsync, rename); returns
/// its size in bytes.
pub fn save(layout: &Layout, model: &str, path: &Path) -> std::io::Result<u64> {
    let bytes = layout.encode(model);
    let tmp = path.with_extension("tmp");
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(bytes.len() as u64)
}

/// Reads a saved layout: `Ok(None)` when there is none or it belongs to
/// another model, `Err` (with the reason) when the file is damaged.
pub fn load(path: &Path, model: &str, dim: usize) -> Result<Option<Layout>, String> {
    let mut bytes = Vec::new();
    match std::fs::File::open(path) {
        Ok(mut f) => f.read_to_end(&mut bytes).map_err(|e| e.to_string())?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    Layout::decode(&bytes, model, dim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Layout {
        let mut namespaces = HashMap::new();
        namespaces.insert(
            "alice".to_owned(),
            NamespaceLayout {
                centroids: vec![1.0, 0.0, 0.0, 1.0],
                cells: vec![vec![1], vec![2, 7]],
            },
        );
        Layout { dim: 2, namespaces }
    }

    #[test]
    fn round_trips_and_refuses_damage_or_another_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.layout");
        save(&sample(), "m", &path).unwrap();
        let back = load(&path, "m", 2).unwrap().unwrap();
        let ns = &back.namespaces["alice"];
        assert_eq!(ns.centroids, vec![1.0, 0.0, 0.0, 1.0]);
        assert_eq!(ns.cell_of()[&7], 1);
        assert!(load(&path, "other", 2).unwrap().is_none());
        assert!(load(&path, "m", 3).unwrap().is_none());
        assert!(load(&dir.path().join("missing"), "m", 2).unwrap().is_none());

        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert!(load(&path, "m", 2).unwrap_err().contains("checksum"));
        std::fs::write(&path, &bytes[..10]).unwrap();
        assert!(load(&path, "m", 2).is_err());
    }
}
