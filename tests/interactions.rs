//! Interactions and reinforcement through the real binary: a scripted
//! interaction log (which facts moved, which did not and why), listing,
//! `why` for a fact and an exchange, export/import-all, bad input, and
//! `memd ctl why` / `memd ctl interactions list`.

mod common;

use common::{Daemon, stderr, stdout};
use serde_json::{Value, json};

fn fact(d: &Daemon, body: Value) -> i64 {
    let (code, r) = d.post("/v1/facts", &body);
    assert_eq!(code, 201, "{r}");
    r["fact"]["id"].as_i64().unwrap()
}

fn get_fact(d: &Daemon, id: i64) -> Value {
    let (code, r) = d.get(&format!("/v1/facts/{id}"));
    assert_eq!(code, 200, "{r}");
    r["fact"].clone()
}

fn record(d: &Daemon, body: Value) -> Value {
    let (code, r) = d.post("/v1/interactions", &body);
    assert_eq!(code, 201, "{r}");
    r
}

fn ids(list: &Value, key: &str) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v[key].as_i64().unwrap())
        .collect()
}

/// `fact_id → reason` of the facts of the pack that did not move.
fn reasons(r: &Value) -> Vec<(i64, String)> {
    r["not_reinforced"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["fact_id"].as_i64().unwrap(),
                v["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap() - b).abs() < 1e-9
}

/// The scripted log's facts, by name.
struct Script {
    exchange: i64,
    lisbon: i64,
    nurse: i64,
    fado: i64,
    porto: i64,
    short: i64,
    tea: i64,
    cello: i64,
    bees: i64,
}

fn script(d: &Daemon) -> Script {
    let (code, r) = d.post(
        "/v1/sessions/chat-1/exchanges",
        &json!({"role": "user", "content": "We moved to Lisbon last spring"}),
    );
    assert_eq!(code, 201, "{r}");
    let exchange = r["id"].as_i64().unwrap();
    let porto = fact(
        d,
        json!({"text": "Alice lives in Porto", "slot": "residence", "subject": "Alice"}),
    );
    let lisbon = fact(
        d,
        json!({"text": "Alice lives in Lisbon", "slot": "residence", "subject": "Alice",
               "supersedes": porto, "confidence": 0.6,
               "provenance": {"session_id": "chat-1", "exchange_ids": [exchange],
                              "ext_ids": ["msg-1"], "client": "extractor"}}),
    );
    Script {
        exchange,
        lisbon,
        porto,
        nurse: fact(
            d,
            json!({"text": "Alice works as a nurse at Santa Maria hospital", "confidence": 0.5}),
        ),
        fado: fact(
            d,
            json!({"text": "Alice likes fado music a lot", "status": "candidate",
                   "confidence": 0.5}),
        ),
        short: fact(d, json!({"text": "Alice is 40", "confidence": 0.5})),
        tea: fact(
            d,
            json!({"text": "Alice drinks green tea every morning", "confidence": 0.97}),
        ),
        cello: fact(
            d,
            json!({"text": "Alice plays the cello on weekends", "confidence": 0.5}),
        ),
        bees: fact(
            d,
            json!({"namespace": "bob", "text": "Bob keeps bees in his garden",
                   "confidence": 0.5}),
        ),
    }
}

/// A response that echoes Lisbon, tea, the candidate, the superseded fact,
/// the short fact, the cello (not in the pack) and another namespace's
/// fact, and paraphrases the nurse.
const RESPONSE: &str = "Good morning! As you told me, Alice lives in Lisbon (before that, \
     alice lives in PORTO), and ALICE DRINKS GREEN TEA EVERY MORNING. She is a nurse at the \
     Santa Maria. Alice likes fado music a lot; Alice is 40; Alice plays the cello on weekends. \
     Bob keeps bees in his garden.";

#[test]
fn a_scripted_interaction_log_moves_exactly_the_echoed_live_facts_of_the_pack() {
    let d = Daemon::start("");
    let s = script(&d);
    let before: Vec<Value> = [s.nurse, s.fado, s.porto, s.short, s.cello, s.bees]
        .iter()
        .map(|id| get_fact(&d, *id))
        .collect();

    // The context pack holds the live facts; the client sends back its ids
    // (without the cello: a client may send a subset) and names, as a
    // hostile or confused client might, a candidate, a superseded fact,
    // another namespace's fact and one that does not exist.
    let (code, pack) = d.post(
        "/v1/context",
        &json!({"query": "Alice", "budget_chars": 8000}),
    );
    assert_eq!(code, 200, "{pack}");
    let mut context: Vec<Value> = pack["ids"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| !(i["tier"] == "fact" && i["id"] == s.cello))
        .cloned()
        .collect();
    let in_pack: Vec<i64> = context
        .iter()
        .filter(|i| i["tier"] == "fact")
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    for id in [s.lisbon, s.nurse, s.tea, s.short] {
        assert!(in_pack.contains(&id), "fact {id} not in the pack {pack}");
    }
    for id in [s.fado, s.porto] {
        assert!(
            !in_pack.contains(&id),
            "a fact that is not live in the pack"
        );
    }
    for id in [s.fado, s.porto, s.bees, 999_999] {
        context.push(json!({"tier": "fact", "id": id}));
    }
    context.push(json!({"tier": "exchange", "id": s.exchange}));

    let first = record(
        &d,
        json!({"session_id": "chat-2", "client": "agent", "prompt": "Plan my morning",
               "context_ids": context, "response": RESPONSE}),
    );
    let moved = ids(&first["reinforced"], "fact_id");
    assert_eq!(
        {
            let mut m = moved.clone();
            m.sort();
            m
        },
        vec![s.lisbon, s.tea],
        "{first}"
    );
    let mut why: Vec<(i64, String)> = reasons(&first);
    why.sort();
    let mut want = vec![
        (s.nurse, "not_echoed".to_owned()),
        (s.short, "too_short".to_owned()),
        (s.fado, "candidate".to_owned()),
        (s.porto, "superseded".to_owned()),
        (s.bees, "other_namespace".to_owned()),
        (999_999, "not_found".to_owned()),
    ];
    want.sort();
    assert_eq!(why, want, "{first}");
    let r = &first["reinforced"];
    let lisbon = r
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["fact_id"] == s.lisbon)
        .unwrap();
    assert!(close(&lisbon["confidence"], 0.65), "{lisbon}");
    assert_eq!(lisbon["reference_count"], 1);
    let tea = r
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["fact_id"] == s.tea)
        .unwrap();
    assert!(close(&tea["confidence"], 1.0), "capped: {tea}");
    let i1 = first["interaction"]["id"].as_i64().unwrap();
    assert_eq!(first["interaction"]["namespace"], "default");

    // The same pack again: Lisbon climbs, tea stays at the cap.
    let second = record(
        &d,
        json!({"session_id": "chat-2", "prompt": "And tomorrow?", "context_ids": context,
               "response": "Alice lives in Lisbon; Alice drinks green tea every morning."}),
    );
    let i2 = second["interaction"]["id"].as_i64().unwrap();
    // A response that echoes Lisbon without the fact in its pack: no move.
    let third = record(
        &d,
        json!({"session_id": "chat-3", "prompt": "Where?",
               "context_ids": [{"tier": "exchange", "id": s.exchange}],
               "response": "Alice lives in Lisbon."}),
    );
    assert_eq!(third["reinforced"], json!([]));
    assert_eq!(third["not_reinforced"], json!([]));
    let i3 = third["interaction"]["id"].as_i64().unwrap();

    let lisbon = get_fact(&d, s.lisbon);
    assert!(close(&lisbon["confidence"], 0.70), "{lisbon}");
    assert_eq!(lisbon["reference_count"], 2);
    assert!(lisbon["last_referenced_at"].is_string(), "{lisbon}");
    assert_eq!(lisbon["status"], "active");
    let tea = get_fact(&d, s.tea);
    assert!(close(&tea["confidence"], 1.0), "{tea}");
    assert_eq!(tea["reference_count"], 2);
    // Everything else is exactly as it was.
    for old in before {
        let now = get_fact(&d, old["id"].as_i64().unwrap());
        assert_eq!(now, old, "moved although it must not");
        assert_eq!(now["reference_count"], 0);
        assert!(now["last_referenced_at"].is_null());
    }

    // Listing: the log, per session, per fact.
    let (_, all) = d.get("/v1/interactions");
    assert_eq!(ids(&all["interactions"], "id"), vec![i3, i2, i1]);
    assert_eq!(all["interactions"][2]["client"], "agent");
    assert_eq!(all["interactions"][2]["prompt"], "Plan my morning");
    assert_eq!(all["interactions"][2]["context_ids"], json!(context));
    let (_, page) = d.get("/v1/interactions?limit=1&offset=1");
    assert_eq!(ids(&page["interactions"], "id"), vec![i2]);
    let (_, chat3) = d.get("/v1/interactions?session_id=chat-3");
    assert_eq!(ids(&chat3["interactions"], "id"), vec![i3]);
    let (_, bob) = d.get("/v1/interactions?namespace=bob");
    assert_eq!(bob["interactions"], json!([]));
    for (id, want) in [
        (s.lisbon, vec![i2, i1]),
        (s.nurse, vec![i2, i1]),
        (s.fado, vec![i2, i1]),
        (s.cello, vec![]),
    ] {
        let (code, r) = d.get(&format!("/v1/facts/{id}/interactions"));
        assert_eq!(code, 200, "{r}");
        assert_eq!(ids(&r["interactions"], "id"), want, "fact {id}");
    }
    let (code, _) = d.get("/v1/facts/999999/interactions");
    assert_eq!(code, 404);

    // why, over the API: a fact, then the exchange it came from.
    let (code, w) = d.get(&format!("/v1/why/fact/{}", s.lisbon));
    assert_eq!(code, 200, "{w}");
    assert_eq!(w["fact"]["provenance"]["exchange_ids"], json!([s.exchange]));
    assert_eq!(ids(&w["interactions"], "id"), vec![i2, i1]);
    let (code, w) = d.get(&format!("/v1/why/exchange/{}", s.exchange));
    assert_eq!(code, 200, "{w}");
    assert_eq!(w["exchange"]["session_id"], "chat-1");
    assert_eq!(ids(&w["facts"], "id"), vec![s.lisbon]);
    assert_eq!(ids(&w["interactions"], "id"), vec![i3, i2, i1]);

    // And through memd ctl.
    let out = d.ctl(&["why", &s.lisbon.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in [
        "Alice lives in Lisbon",
        "referenced 2 times",
        &format!(
            "came from: session chat-1; exchanges {}; ext ids msg-1; written by extractor",
            s.exchange
        ),
        "used by 2 interaction(s)",
        &format!("#{i1}"),
        "reinforced it",
        "Plan my morning",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    let out = d.ctl(&["why", &format!("exchange:{}", s.exchange)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in [
        "We moved to Lisbon last spring",
        "facts from it:",
        &format!("{}  active     Alice lives in Lisbon", s.lisbon),
        "used by 3 interaction(s)",
        &format!("#{i3}"),
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    let out = d.ctl(&["why", &format!("fact:{}", s.cello)]);
    assert!(
        stdout(&out).contains("no recorded interaction used it"),
        "{}",
        stdout(&out)
    );
    let out = d.ctl(&["why", "gist:3"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = d.ctl(&["why", "999999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no fact 999999"), "{}", stderr(&out));
    let out = d.ctl(&["interactions", "list", "--session", "chat-2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("#{i2}")) && text.contains(&format!("#{i1}")),
        "{text}"
    );
    assert!(!text.contains(&format!("#{i3}")), "{text}");
    assert!(
        text.contains("session chat-2, client agent, reinforced"),
        "{text}"
    );
    let out = d.ctl(&["--json", "interactions", "list", "--limit", "1"]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(ids(&v["interactions"], "id"), vec![i3]);
}

#[test]
fn the_learn_section_sets_the_step_the_window_and_the_switch() {
    let d =
        Daemon::start("[learn]\nreinforce_step = 0.5\necho_min_chars = 25\necho_window_chars = 25");
    let long = fact(
        &d,
        json!({"text": "Alice drinks green tea every morning before work", "confidence": 0.6}),
    );
    let short = fact(
        &d,
        json!({"text": "Alice lives in Lisbon", "confidence": 0.6}),
    );
    // Only the first 25 characters (cut to a whole word) must be echoed.
    let r = record(
        &d,
        json!({"prompt": "p", "response": "Alice drinks green tea every day. Alice lives in Lisbon.",
               "context_ids": [{"tier": "fact", "id": long}, {"tier": "fact", "id": short}]}),
    );
    assert_eq!(ids(&r["reinforced"], "fact_id"), vec![long], "{r}");
    assert!(
        close(&r["reinforced"][0]["confidence"], 1.0),
        "0.6 + 0.5, capped: {r}"
    );
    assert_eq!(reasons(&r), vec![(short, "too_short".to_owned())]);

    let off = Daemon::start("[learn]\nreinforce = false");
    let id = fact(
        &off,
        json!({"text": "Alice lives in Lisbon", "confidence": 0.6}),
    );
    let r = record(
        &off,
        json!({"prompt": "p", "response": "Alice lives in Lisbon",
               "context_ids": [{"tier": "fact", "id": id}]}),
    );
    assert_eq!(reasons(&r), vec![(id, "reinforcement_off".to_owned())]);
    assert_eq!(get_fact(&off, id)["reference_count"], 0);
    let (_, all) = off.get("/v1/interactions");
    assert_eq!(
        all["interactions"].as_array().unwrap().len(),
        1,
        "still logged"
    );
}

#[test]
fn export_then_import_all_keeps_the_interaction_log() {
    let mut a = Daemon::start("[checkpoint]\non_shutdown = false");
    let id = fact(
        &a,
        json!({"text": "Alice lives in Lisbon", "confidence": 0.5}),
    );
    record(
        &a,
        json!({"prompt": "where?", "response": "Alice lives in Lisbon",
               "session_id": "s", "context_ids": [{"tier": "fact", "id": id},
                                                   {"tier": "profile", "id": "default"}]}),
    );
    let (_, before) = a.get("/v1/interactions");
    let (_, per_fact) = a.get(&format!("/v1/facts/{id}/interactions"));
    let f = get_fact(&a, id);
    let (code, export) = a.request("GET", "/v1/export", b"");
    assert_eq!(code, 200);
    let body = match export {
        Value::String(s) => s,
        other => other.to_string(),
    };
    assert!(body.contains("\"table\":\"interactions\""), "{body}");
    assert!(a.stop().success());

    let b = Daemon::start("[checkpoint]\non_shutdown = false");
    let (code, r) = b.request("POST", "/v1/import-all", body.as_bytes());
    assert_eq!(code, 200, "{r}");
    let (_, after) = b.get("/v1/interactions");
    assert_eq!(after, before);
    assert_eq!(after["interactions"].as_array().unwrap().len(), 1);
    let (_, per_fact_after) = b.get(&format!("/v1/facts/{id}/interactions"));
    assert_eq!(per_fact_after, per_fact);
    assert_eq!(get_fact(&b, id), f);
}

#[test]
fn bad_interactions_are_refused_with_a_clear_4xx() {
    let d = Daemon::start("[api]\nmax_content_bytes = 1000");
    let bad = |body: &[u8], status: u16, code: &str, needle: &str| {
        let (s, r) = d.request("POST", "/v1/interactions", body);
        assert_eq!(s, status, "{}: {r}", String::from_utf8_lossy(body));
        assert_eq!(r["error"]["code"], code, "{r}");
        let m = r["error"]["message"].as_str().unwrap();
        assert!(m.contains(needle), "{needle:?} not in {m}");
    };
    let j = |v: Value| v.to_string().into_bytes();
    bad(&j(json!({"response": "r"})), 400, "bad_field", "prompt");
    bad(&j(json!({"prompt": "p"})), 400, "bad_field", "response");
    bad(
        &j(json!({"prompt": "p", "response": "r", "colour": 1})),
        400,
        "bad_field",
        "colour",
    );
    bad(
        &j(
            json!({"prompt": "p", "response": "r", "context_ids": [{"tier": "fact", "id": 1, "score": 2}]}),
        ),
        400,
        "bad_field",
        "score",
    );
    bad(
        &j(json!({"prompt": "p", "response": "r", "context_ids": [["fact", 1]]})),
        400,
        "bad_field",
        "objects",
    );
    bad(
        &j(json!({"prompt": " ", "response": "r"})),
        422,
        "invalid_value",
        "`prompt` must not be empty",
    );
    bad(
        &j(json!({"prompt": "p", "response": "x".repeat(1001)})),
        422,
        "invalid_value",
        "api.max_content_bytes",
    );
    bad(
        &j(json!({"prompt": "p", "response": "r", "context_ids": [{"tier": "memo", "id": 1}]})),
        422,
        "invalid_value",
        "unknown tier `memo`",
    );
    bad(
        &j(json!({"prompt": "p", "response": "r", "context_ids": [{"tier": "fact", "id": "7"}]})),
        422,
        "invalid_value",
        "numeric id",
    );
    bad(
        &j(json!({"prompt": "p", "response": "r", "session_id": "a\u{202E}b"})),
        422,
        "invalid_value",
        "session_id",
    );
    let many: Vec<Value> = (1..=1001)
        .map(|i| json!({"tier": "exchange", "id": i}))
        .collect();
    bad(
        &j(json!({"prompt": "p", "response": "r", "context_ids": many})),
        422,
        "invalid_value",
        "at most 1000",
    );
    bad(b"[1]", 400, "bad_field", "object");
    bad(b"{", 400, "malformed_json", "JSON");
    for (path, status) in [
        ("/v1/interactions?bogus=1", 400),
        ("/v1/interactions?namespace=", 422),
        ("/v1/interactions?limit=lots", 400),
        ("/v1/why/planet/1", 404),
        ("/v1/why/fact/abc", 404),
        ("/v1/why/fact/999999", 404),
        ("/v1/why/exchange/999999", 404),
        ("/v1/why/fact/1?colour=red", 400),
        ("/v1/facts/abc/interactions", 404),
    ] {
        let (s, r) = d.get(path);
        assert_eq!(s, status, "{path}: {r}");
        assert!(r["error"]["message"].is_string(), "{path}: {r}");
    }
    // Nothing was logged.
    let (_, all) = d.get("/v1/interactions");
    assert_eq!(all["interactions"], json!([]));
}
