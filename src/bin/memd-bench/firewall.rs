//! `memd-bench firewall FILE`: the write firewall's threat scanner on a
//! labelled corpus (shared/data/injection/dev.jsonl: one JSON object a
//! line with `text`, `label` attack|benign, `kind`): detection per attack
//! kind, false positives per benign kind; with `--locomo`, false positives
//! over every turn of a LoCoMo-format file; and scan throughput.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use memd::firewall::{ThreatClass, Verdict, scan};
use serde_json::{Value, json};

struct Row {
    text: String,
    attack: bool,
    kind: String,
}

fn read_corpus(file: &Path) -> anyhow::Result<Vec<Row>> {
    let body =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut rows = Vec::new();
    for (n, line) in body
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not JSON", file.display(), n + 1))?;
        let (Some(text), Some(label)) = (v["text"].as_str(), v["label"].as_str()) else {
            bail!("{}:{}: needs `text` and `label`", file.display(), n + 1);
        };
        let attack = match label {
            "attack" => true,
            "benign" => false,
            other => bail!(
                "{}:{}: label {other:?} is neither attack nor benign",
                file.display(),
                n + 1
            ),
        };
        let kind = v["kind"].as_str().unwrap_or(label).to_owned();
        rows.push(Row {
            text: text.to_owned(),
            attack,
            kind,
        });
    }
    Ok(rows)
}

/// Every turn's `text` of a LoCoMo-format file (conversations with
/// `session_N` lists of turns).
fn locomo_turns(file: &Path) -> anyhow::Result<Vec<String>> {
    let body =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let data: Value = serde_json::from_str(&body).context("LoCoMo file is not JSON")?;
    let mut out = Vec::new();
    for conv in data.as_array().into_iter().flatten() {
        let Some(c) = conv["conversation"].as_object() else {
            continue;
        };
        for (key, turns) in c {
            let is_session = key
                .strip_prefix("session_")
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
            if !is_session {
                continue;
            }
            for t in turns.as_array().into_iter().flatten() {
                if let Some(text) = t["text"].as_str() {
                    out.push(text.to_owned());
                }
            }
        }
    }
    Ok(out)
}

#[derive(Default)]
struct Count {
    hit: usize,
    n: usize,
}

impl Count {
    fn rate(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.hit as f64 / self.n as f64
        }
    }
    fn json(&self) -> Value {
        json!({"hit": self.hit, "n": self.n, "rate": round4(self.rate())})
    }
    fn line(&self, name: &str) -> String {
        format!(
            "  {name:<22} {:>4}/{:<4} {:>6.1} %",
            self.hit,
            self.n,
            100.0 * self.rate()
        )
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn summary(v: &Verdict) -> String {
    v.findings
        .iter()
        .map(|f| format!("{} ({})", f.class, f.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

fn short(s: &str) -> String {
    let one_line: String = s
        .chars()
        .take(140)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > 140 {
        format!("{one_line}…")
    } else {
        one_line
    }
}

/// Throughput over `texts`: whole rounds until a second has passed.
fn throughput(texts: &[&str]) -> (f64, f64) {
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let start = Instant::now();
    let mut rounds = 0u32;
    while rounds < 3 || start.elapsed() < Duration::from_secs(1) {
        for t in texts {
            std::hint::black_box(scan(std::hint::black_box(t)));
        }
        rounds += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let mb_s = bytes as f64 * f64::from(rounds) / secs / 1e6;
    let texts_s = texts.len() as f64 * f64::from(rounds) / secs;
    (mb_s, texts_s)
}

pub fn run(file: &Path, locomo: Option<&Path>, json: bool, verbose: bool) -> anyhow::Result<()> {
    let rows = read_corpus(file)?;
    let turns = locomo.map(locomo_turns).transpose()?;

    // Build the patterns outside the timings.
    let _ = scan("warm up");

    let mut attacks: BTreeMap<&str, Count> = BTreeMap::new();
    let mut benign: BTreeMap<&str, Count> = BTreeMap::new();
    let mut all_attacks = Count::default();
    let mut all_benign = Count::default();
    let mut classes: BTreeMap<ThreatClass, usize> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut false_pos = Vec::new();
    for row in &rows {
        let v = scan(&row.text);
        let flagged = !v.is_clean();
        let (per_kind, overall) = if row.attack {
            (attacks.entry(&row.kind).or_default(), &mut all_attacks)
        } else {
            (benign.entry(&row.kind).or_default(), &mut all_benign)
        };
        for c in [per_kind, overall] {
            c.n += 1;
            c.hit += usize::from(flagged);
        }
        if flagged && row.attack {
            for c in v.classes() {
                *classes.entry(c).or_default() += 1;
            }
        }
        if row.attack && !flagged {
            misses.push(format!("[{}] {}", row.kind, short(&row.text)));
        }
        if !row.attack && flagged {
            false_pos.push(format!(
                "[{}] {} => {}",
                row.kind,
                short(&row.text),
                summary(&v)
            ));
        }
    }
    let mut locomo_fp = Count::default();
    let mut locomo_examples = Vec::new();
    for t in turns.iter().flatten() {
        let v = scan(t);
        locomo_fp.n += 1;
        if !v.is_clean() {
            locomo_fp.hit += 1;
            locomo_examples.push(format!("{} => {}", short(t), summary(&v)));
        }
    }
    let mut texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
    texts.extend(turns.iter().flatten().map(String::as_str));
    let (mb_s, texts_s) = throughput(&texts);

    if json {
        let per = |m: &BTreeMap<&str, Count>| -> Value {
            m.iter().map(|(k, c)| ((*k).to_owned(), c.json())).collect()
        };
        let mut out = json!({
            "file": file.display().to_string(),
            "detection": all_attacks.json(),
            "detection_per_kind": per(&attacks),
            "false_positives": all_benign.json(),
            "false_positives_per_kind": per(&benign),
            "classes_on_detected_attacks": classes
                .iter()
                .map(|(c, n)| (c.as_str().to_owned(), json!(n)))
                .collect::<serde_json::Map<_, _>>(),
            "throughput_mb_s": round4(mb_s),
            "throughput_texts_s": texts_s.round(),
        });
        if turns.is_some() {
            out["locomo_false_positives"] = locomo_fp.json();
        }
        println!("{out}");
    } else {
        println!(
            "firewall on {}: {} texts ({} attacks, {} benign)",
            file.display(),
            rows.len(),
            all_attacks.n,
            all_benign.n
        );
        println!("attacks detected");
        for (k, c) in &attacks {
            println!("{}", c.line(k));
        }
        println!("{}", all_attacks.line("overall"));
        println!("benign texts flagged (false positives)");
        for (k, c) in &benign {
            println!("{}", c.line(k));
        }
        println!("{}", all_benign.line("overall"));
        if turns.is_some() {
            println!("LoCoMo turns flagged");
            println!("{}", locomo_fp.line("every dev turn"));
        }
        let named: Vec<String> = classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
        println!("classes named on detected attacks: {}", named.join(", "));
        println!(
            "throughput: {mb_s:.1} MB/s, {texts_s:.0} texts/s ({} texts, one thread)",
            texts.len()
        );
    }
    if verbose {
        eprintln!("-- missed attacks ({})", misses.len());
        misses.iter().for_each(|m| eprintln!("{m}"));
        eprintln!("-- false positives ({})", false_pos.len());
        false_pos.iter().for_each(|m| eprintln!("{m}"));
        eprintln!("-- LoCoMo turns flagged ({})", locomo_examples.len());
        locomo_examples.iter().for_each(|m| eprintln!("{m}"));
    }
    Ok(())
}
