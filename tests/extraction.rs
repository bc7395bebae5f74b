//! Fact extraction in the dream cycle, through the real binary: a move
//! supersedes the old residence with `valid_to`, `as_of` before it answers
//! with the old fact, someone else's city and a move only considered change
//! nothing, a second forced pass extracts nothing new, a client writing back
//! a fact memd holds is a loop echo, status counts it all, and forget
//! removes an extracted fact from recall, the context pack and exports.

mod common;

use common::Daemon;
use serde_json::{Value, json};

const CONFIG: &str = "[embed]\nprovider = \"hash\"\n[dream]\nenabled = false\n";

fn turn(d: &Daemon, sid: &str, at: &str, text: &str) {
    let (code, r) = d.post(
        &format!("/v1/sessions/{sid}/exchanges"),
        &json!({"namespace": "home", "role": "user", "content": text, "created_at": at}),
    );
    assert!(code == 201 || code == 200, "{r}");
}

fn dream(d: &Daemon) -> Value {
    let (code, r) = d.post(
        "/v1/dream",
        &json!({"force": true, "until_caught_up": true, "namespace": "home", "wait": true}),
    );
    assert_eq!(code, 200, "{r}");
    r
}

fn facts(d: &Daemon, query: &str) -> Vec<Value> {
    let (code, r) = d.get(&format!("/v1/facts?namespace=home&limit=100&{query}"));
    assert_eq!(code, 200, "{r}");
    r["facts"].as_array().unwrap().clone()
}

fn texts(facts: &[Value]) -> Vec<String> {
    facts
        .iter()
        .map(|f| f["text"].as_str().unwrap().to_owned())
        .collect()
}

fn recall_facts(d: &Daemon, query: &str, as_of: Option<&str>) -> Vec<String> {
    let mut body = json!({"query": query, "namespace": "home", "tiers": ["fact"], "k": 5});
    if let Some(t) = as_of {
        body["as_of"] = json!(t);
    }
    let (code, r) = d.post("/v1/recall", &body);
    assert_eq!(code, 200, "{r}");
    r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["content"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn extraction_supersedes_guards_and_forgets() {
    let d = Daemon::start(CONFIG);
    turn(
        &d,
        "jan",
        "2023-01-10T10:00:00Z",
        "Ana: I live in Porto, the tiles there are lovely.",
    );
    turn(
        &d,
        "jan",
        "2023-01-10T10:01:00Z",
        "Ben: That sounds wonderful, you must love it!",
    );
    turn(
        &d,
        "jan",
        "2023-01-10T10:02:00Z",
        "Ana: My sister lives in Oslo, I visited her for a week.",
    );
    turn(
        &d,
        "jan",
        "2023-01-10T10:03:00Z",
        "Ana: I went to a pottery class yesterday and made a bowl for my mum.",
    );
    dream(&d);
    let live = facts(&d, "subject=Ana");
    let residence: Vec<&Value> = live.iter().filter(|f| f["slot"] == "residence").collect();
    assert_eq!(residence.len(), 1, "{live:#?}");
    let porto = residence[0].clone();
    assert_eq!(
        porto["text"],
        "Ana lives in Porto, the tiles there are lovely."
    );
    assert_eq!(porto["valid_from"], "2023-01-10T10:00:00.000Z");
    assert_eq!(porto["provenance"]["source"], "extraction");
    assert!(
        texts(&live).iter().any(|t| t.contains("pottery class")),
        "{live:#?}"
    );
    assert!(
        live.iter()
            .all(|f| !f["text"].as_str().unwrap().contains("Ben")),
        "Ben's turn is addressed to Ana: nothing to learn"
    );

    turn(
        &d,
        "jun",
        "2023-06-01T09:00:00Z",
        "Ana: I thought about moving to Rome, but in the end we stayed put.",
    );
    turn(
        &d,
        "jun",
        "2023-06-02T09:00:00Z",
        "Ana: Big news: I moved to Lisbon last week!",
    );
    dream(&d);
    let live = facts(&d, "subject=Ana&slot=residence");
    assert_eq!(
        texts(&live),
        vec!["Big news: Ana moved to Lisbon last week!"],
        "{live:#?}"
    );
    let (_, old) = d.get(&format!("/v1/facts/{}", porto["id"]));
    assert_eq!(old["fact"]["status"], "superseded", "{old}");
    assert_eq!(old["fact"]["valid_to"], "2023-06-02T09:00:00.000Z");

    // Now, and as of March 2023.
    let now = recall_facts(&d, "Where does Ana live now?", None);
    assert_eq!(
        now[0], "Big news: Ana moved to Lisbon last week!",
        "{now:#?}"
    );
    assert!(!now.iter().any(|t| t.contains("Porto")), "{now:#?}");
    let then = recall_facts(&d, "Where did Ana live?", Some("2023-03-01T00:00:00Z"));
    assert_eq!(
        then[0], "Ana lives in Porto, the tiles there are lovely.",
        "{then:#?}"
    );
    assert!(!then.iter().any(|t| t.contains("Lisbon")), "{then:#?}");

    // A second forced pass finds nothing new to extract.
    let before = facts(&d, "include_retired=true").len();
    let r = dream(&d);
    let extracted: usize = r["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|run| run["actions"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["action"] == "facts")
        .count();
    assert_eq!(extracted, 0, "{r}");
    assert_eq!(facts(&d, "include_retired=true").len(), before);

    // A client writing back what memd told it is not news; a repeat in
    // Ana's own words reinforces the fact instead of adding one.
    turn(
        &d,
        "echo",
        "2023-07-01T09:00:00Z",
        "Ana: Big news: Ana moved to Lisbon last week! That is what you told me.",
    );
    turn(
        &d,
        "echo",
        "2023-07-01T09:01:00Z",
        "Ana: I went to a pottery class yesterday and made a bowl for my mum.",
    );
    dream(&d);
    assert_eq!(
        facts(&d, "include_retired=true").len(),
        before,
        "nothing added"
    );
    let pottery = facts(&d, "subject=Ana")
        .into_iter()
        .find(|f| f["text"].as_str().unwrap().contains("pottery"))
        .unwrap();
    assert_eq!(pottery["support"], 2, "{pottery}");
    let (_, status) = d.get("/v1/status");
    let x = &status["facts"]["extraction"];
    assert_eq!(x["echoes"], 1, "{status}");
    assert_eq!(x["duplicates"], 1, "{status}");
    assert_eq!(x["superseded"], 1, "{status}");
    assert!(x["junk_rate"].as_f64().unwrap() > 0.0, "{status}");

    // Forget: gone from recall, the context pack and exports at once.
    let lisbon = &facts(&d, "subject=Ana&slot=residence")[0];
    let (code, r) = d.request("DELETE", &format!("/v1/facts/{}", lisbon["id"]), b"");
    assert_eq!(code, 200, "{r}");
    assert!(
        !recall_facts(&d, "Where does Ana live now? Lisbon", None)
            .iter()
            .any(|t| t.contains("Lisbon"))
    );
    let (_, pack) = d.post(
        "/v1/context",
        &json!({"query": "Where does Ana live? Lisbon", "namespace": "home", "budget_chars": 4000}),
    );
    let facts_section: Vec<Value> = pack["sections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "facts")
        .flat_map(|s| s["items"].as_array().unwrap().clone())
        .collect();
    assert!(
        !facts_section.iter().any(|i| i["id"] == lisbon["id"]),
        "{pack}"
    );
    let (code, export) = d.request("GET", "/v1/export", b"");
    assert_eq!(code, 200);
    let Value::String(export) = export else {
        panic!("an export is JSON lines: {export}")
    };
    let exported: Vec<String> = export
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["table"] == "facts")
        .map(|l| l["row"]["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(exported.iter().any(|t| t.contains("Porto")), "{exported:?}");
    assert!(
        !exported.iter().any(|t| t.contains("Lisbon")),
        "{exported:?}"
    );
}
