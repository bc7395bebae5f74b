//! The local model against the reference vectors computed with a
//! float32 numpy port of the same model (tests/fixtures/minilm-ref.jsonl,
//! copied from shared/data/embed-ref).

mod common;

use common::model_dir;
use memd::embed::Embedder;
use memd::embed::local::LocalEmbedder;
use serde_json::Value;

#[test]
fn local_model_matches_the_reference_vectors_and_token_ids() {
    let Some(dir) = model_dir() else { return };
    let model = LocalEmbedder::load(&dir, 2).unwrap();
    assert_eq!(model.dim(), 384);
    let text = include_str!("fixtures/minilm-ref.jsonl");
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 40);
    let texts: Vec<&str> = rows.iter().map(|r| r["text"].as_str().unwrap()).collect();

    let ids = model.token_ids(&texts).unwrap();
    let mut truncated = 0;
    for (row, got) in rows.iter().zip(&ids) {
        let want: Vec<u32> = row["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(got, &want, "token ids of {:?}", row["text"]);
        if row["truncated"] == true {
            truncated += 1;
            assert_eq!(got.len(), 256);
        }
    }
    assert!(truncated >= 3, "the long inputs are covered");

    // Batched as a whole, and one by one: both must match.
    let batched = model.embed(&texts).unwrap();
    let mut worst_cos = 1.0f64;
    let mut worst_diff = 0.0f64;
    for (i, row) in rows.iter().enumerate() {
        let want: Vec<f64> = row["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let single = model.embed(&[texts[i]]).unwrap().pop().unwrap();
        for got in [&batched[i], &single] {
            assert_eq!(got.len(), 384);
            let cos: f64 = got.iter().zip(&want).map(|(a, b)| *a as f64 * b).sum();
            let diff = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (*a as f64 - b).abs())
                .fold(0.0, f64::max);
            assert!(cos >= 0.9999, "{:?}: cosine {cos}", row["text"]);
            assert!(diff <= 1e-4, "{:?}: max diff {diff}", row["text"]);
            worst_cos = worst_cos.min(cos);
            worst_diff = worst_diff.max(diff);
        }
    }
    eprintln!("reference vectors: worst cosine {worst_cos:.8}, worst |diff| {worst_diff:.2e}");
}
