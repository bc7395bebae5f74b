use super::*;
use crate::config::StoreConfig;
use crate::store::ModelSpec;

/// A fact valid over `[from, to)`; `recorded` says whether it was ever
/// believed (a candidate or a rejected fact was not).
fn fact(status: FactStatus, recorded: bool, from: i64, to: Option<i64>) -> Fact {
    Fact {
        id: 1,
        namespace: "n".into(),
        text: "t".into(),
        kind: FactKind::Other,
        subject: None,
        entities: Vec::new(),
        slot: None,
        status,
        confidence: 1.0,
        reference_count: 0,
        last_referenced_at: None,
        valid_from: from,
        valid_to: to,
        recorded_at: recorded.then_some(1_000),
        retired_at: to.map(|_| 2_000),
        superseded_by: None,
        provenance: serde_json::json!({}),
        created_at: 0,
        updated_at: 0,
        support: 1,
    }
}

#[test]
fn as_of_is_what_held_in_the_world_at_that_instant() {
    use FactStatus::*;
    let live = fact(Active, true, 10, None);
    let old = fact(Superseded, true, 10, Some(20));
    let pending = fact(Candidate, false, 0, None);
    let rejected = fact(Invalid, false, 0, None);
    let corrected = fact(Superseded, true, 10, Some(10));
    assert!(Belief::Live.holds(&live));
    assert!(!Belief::Live.holds(&old));
    assert!(!Belief::Live.holds(&pending));
    assert!(!Belief::Live.holds(&rejected));
    // valid_from ≤ T < valid_to, whenever memd learnt it
    assert!(!Belief::AsOf(9).holds(&live));
    assert!(Belief::AsOf(10).holds(&live));
    assert!(Belief::AsOf(i64::MAX).holds(&live));
    assert!(Belief::AsOf(10).holds(&old));
    assert!(Belief::AsOf(19).holds(&old));
    assert!(!Belief::AsOf(20).holds(&old), "replaced at 20");
    for t in [9, 10, 11] {
        assert!(
            !Belief::AsOf(t).holds(&corrected),
            "a correction never held"
        );
    }
    for t in [0, 10, 100] {
        assert!(!Belief::AsOf(t).holds(&pending), "never believed");
        assert!(!Belief::AsOf(t).holds(&rejected));
    }
}

#[test]
fn the_sql_predicate_agrees_with_the_rust_one() {
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    crate::store::migrate::migrate(&mut conn).unwrap();
    // (status, recorded, valid_from, valid_to)
    let rows = [
        ("active", Some(1), 10, None),
        ("superseded", Some(1), 10, Some(20)),
        ("candidate", None, 0, None),
        ("invalid", None, 0, None),
        ("active", Some(1), 30, None),
        ("superseded", Some(1), 5, Some(6)),
    ];
    for (i, (status, rec, from, to)) in rows.iter().enumerate() {
        conn.execute(
            "INSERT INTO facts (id, namespace, text, kind, status, valid_from, valid_to,
                 recorded_at, created_at, updated_at)
             VALUES (?1, 'n', 'pets cats', 'other', ?2, ?3, ?4, ?5, 0, 0)",
            rusqlite::params![i as i64 + 1, status, from, to, rec],
        )
        .unwrap();
    }
    let all = read::facts_by_id(&conn, &[1, 2, 3, 4, 5, 6]).unwrap();
    for belief in [
        Belief::Live,
        Belief::AsOf(0),
        Belief::AsOf(5),
        Belief::AsOf(6),
        Belief::AsOf(10),
        Belief::AsOf(19),
        Belief::AsOf(20),
        Belief::AsOf(30),
    ] {
        let mut sql = read::search_facts(&conn, "\"cats\"", "n", belief, 10).unwrap();
        sql.sort();
        let mut rust: Vec<i64> = all
            .values()
            .filter(|f| belief.holds(f))
            .map(|f| f.id)
            .collect();
        rust.sort();
        assert_eq!(sql, rust, "{belief:?}");
        let listed: Vec<i64> = match belief {
            Belief::Live => continue,
            Belief::AsOf(t) => {
                let mut l: Vec<i64> = read::list(
                    &conn,
                    &FactFilter {
                        namespace: "n".into(),
                        status: None,
                        kind: None,
                        subject: None,
                        slot: None,
                        as_of: Some(t),
                        include_retired: false,
                        limit: 100,
                        offset: 0,
                    },
                )
                .unwrap()
                .into_iter()
                .map(|f| f.id)
                .collect();
                l.sort();
                l
            }
        };
        assert_eq!(listed, rust, "{belief:?} (list)");
    }
    assert!(
        read::search_facts(&conn, "\"cats\"", "other", Belief::AsOf(10), 10)
            .unwrap()
            .is_empty(),
        "namespaces are apart"
    );
}

fn new_fact(text: &str, v: [f32; 4]) -> NewFact {
    NewFact {
        namespace: "n".into(),
        text: text.into(),
        kind: FactKind::UserProfile,
        subject: Some("alice".into()),
        entities: vec!["Porto".into()],
        slot: Some("residence".into()),
        candidate: false,
        confidence: 0.9,
        valid_from: None,
        provenance: serde_json::json!({"client": "test"}),
        supersedes: None,
        embedding: Some(v.to_vec()),
        screen: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn supersession_moves_the_old_vector_and_forget_removes_everything() {
    let (dir, store) = crate::store::test_store(4);
    let hits = |store: &Store, part: String| {
        store
            .index()
            .read()
            .unwrap()
            .search(&part, None, &[1.0, 0.0, 0.0, 0.0], 10)
            .into_iter()
            .map(|h| h.id)
            .collect::<Vec<_>>()
    };
    let a = store
        .create_fact(new_fact("alice lives in Porto", [1.0, 0.0, 0.0, 0.0]))
        .await
        .unwrap()
        .unwrap()
        .fact;
    assert_eq!(hits(&store, live_fact_partition("n")), vec![a.id]);
    let mut b = new_fact("alice lives in Lisbon", [0.0, 1.0, 0.0, 0.0]);
    b.supersedes = Some(a.id);
    let created = store.create_fact(b).await.unwrap().unwrap();
    let old = created.superseded.unwrap();
    assert_eq!(old.status, FactStatus::Superseded);
    assert_eq!(old.superseded_by, Some(created.fact.id));
    assert!(old.valid_to.is_some() && old.retired_at.is_some());
    assert_eq!(
        hits(&store, live_fact_partition("n")),
        vec![created.fact.id]
    );
    assert_eq!(hits(&store, retired_fact_partition("n")), vec![a.id]);
    // A retired fact cannot be superseded again.
    let mut c = new_fact("alice lives in Rome", [0.0, 0.0, 1.0, 0.0]);
    c.supersedes = Some(a.id);
    assert!(matches!(
        store.create_fact(c).await.unwrap(),
        Err(FactRefusal::NotLive { .. })
    ));
    let h = store.fact_history(a.id).await.unwrap().unwrap();
    assert_eq!(
        h.chain.iter().map(|f| f.id).collect::<Vec<_>>(),
        vec![a.id, created.fact.id]
    );
    let h = store.fact_history(created.fact.id).await.unwrap().unwrap();
    assert_eq!(h.chain.len(), 2);

    // Candidates wait outside the index until promoted.
    let mut d = new_fact("alice has a cat", [0.0, 0.0, 0.0, 1.0]);
    d.candidate = true;
    d.slot = Some("pet".into());
    let d = store.create_fact(d).await.unwrap().unwrap().fact;
    assert_eq!(d.recorded_at, None);
    assert_eq!(hits(&store, live_fact_partition("n")).len(), 1);
    let d = store.review_fact(d.id, true).await.unwrap().unwrap();
    assert_eq!(d.status, FactStatus::Active);
    assert!(d.recorded_at.is_some());
    assert_eq!(hits(&store, live_fact_partition("n")).len(), 2);
    assert!(matches!(
        store.review_fact(d.id, false).await.unwrap(),
        Err(FactRefusal::NotCandidate { .. })
    ));

    // Forget: row, index entry, and the pointer of the version before it.
    let gone = store.forget_fact(created.fact.id).await.unwrap().unwrap();
    assert_eq!(gone.unlinked, 1);
    assert_eq!(hits(&store, live_fact_partition("n")), vec![d.id]);
    let old = store.fact_history(a.id).await.unwrap().unwrap().fact;
    assert_eq!(old.superseded_by, None);
    assert!(store.forget_fact(created.fact.id).await.unwrap().is_none());

    // Vectors are found again after a restart, each in its partition.
    tokio::task::spawn_blocking(move || store.close())
        .await
        .unwrap();
    let model = ModelSpec {
        name: "test".into(),
        dim: 4,
    };
    let (store, _) =
        Store::open(&dir.path().join("t.db"), &StoreConfig::default(), &model).unwrap();
    assert_eq!(hits(&store, live_fact_partition("n")), vec![d.id]);
    assert_eq!(hits(&store, retired_fact_partition("n")), vec![a.id]);
    tokio::task::spawn_blocking(move || store.close())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_embedding_queue_files_each_vector_where_the_status_says() {
    use crate::store::EmbeddingWork;
    let (_dir, store) = crate::store::test_store(4);
    let unembedded = |text: &str| NewFact {
        embedding: None,
        ..new_fact(text, [0.0; 4])
    };
    let a = store.create_fact(unembedded("alice lives in Porto")).await;
    let a = a.unwrap().unwrap().fact;
    let mut b = unembedded("alice lives in Lisbon");
    b.supersedes = Some(a.id);
    let b = store.create_fact(b).await.unwrap().unwrap().fact;
    let mut c = unembedded("alice has a cat");
    c.candidate = true;
    let c = store.create_fact(c).await.unwrap().unwrap().fact;
    assert_eq!(store.backlog(true).await.unwrap().facts, 3);
    let pending = store.pending_facts(10).await.unwrap();
    assert_eq!(pending.len(), 3);
    let rows: Vec<(i64, String, Vec<f32>)> = pending
        .into_iter()
        .map(|(id, text)| (id, text, vec![1.0, 0.0, 0.0, 0.0]))
        .collect();
    assert_eq!(store.set_fact_embeddings(rows).await.unwrap(), 3);
    assert_eq!(store.backlog(true).await.unwrap().facts, 0);
    let ids = |part: String| {
        let mut v: Vec<i64> = store
            .index()
            .read()
            .unwrap()
            .search(&part, None, &[1.0, 0.0, 0.0, 0.0], 10)
            .into_iter()
            .map(|h| h.id)
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(live_fact_partition("n")), vec![b.id]);
    assert_eq!(ids(retired_fact_partition("n")), vec![a.id]);
    // The candidate has its vector stored, and is indexed once promoted.
    store.review_fact(c.id, true).await.unwrap().unwrap();
    assert_eq!(ids(live_fact_partition("n")), vec![b.id, c.id]);
    // A vector for text that changed meanwhile is not stored.
    let stale = vec![(
        b.id,
        "alice lives in Rome".to_owned(),
        vec![0.0, 1.0, 0.0, 0.0],
    )];
    assert_eq!(store.set_fact_embeddings(stale).await.unwrap(), 0);
    tokio::task::spawn_blocking(move || store.close())
        .await
        .unwrap();
}
