"""Every method of the API, through both clients, against a real daemon."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Daemon
from helpers import KINDS, open_client

import memd


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def m(daemon: Daemon, kind: str) -> Iterator[Any]:
    """A client of the module's daemon whose default namespace is its kind's."""
    yield from open_client(kind, socket=daemon.socket, namespace=f"ns-{kind}")


def test_system(m: Any) -> None:
    assert m.health() == memd.Health(status="ok")
    st = m.status()
    assert isinstance(st, memd.Status)
    assert st.embedder.provider == "hash" and st.embedder.dim > 0
    assert st.socket == str(m.socket)
    assert "index" in st.raw and st.counts.exchanges >= 0
    assert st.dream is not None and st.dream.enabled is False
    text = m.metrics()
    assert "memd_store_rows" in text and "memd_http_requests_total" in text
    re = m.reembed()
    assert re.queued is True and re.all is False


def test_remember_import_and_sessions(m: Any, kind: str) -> None:
    sid, other = f"{kind}-chat-1", f"{kind}-chat-2"
    r = m.remember(
        sid,
        "I adopted a grey cat named Miso",
        ext_id="m1",
        created_at="2024-05-01T13:45:00Z",
        metadata={"channel": "web"},
    )
    assert isinstance(r, memd.Remembered)
    assert (r.session_id, r.namespace, r.duplicate) == (sid, f"ns-{kind}", False)
    assert r.created_at.startswith("2024-05-01T13:45:00")
    again = m.remember(sid, "I adopted a grey cat named Miso", ext_id="m1")
    assert again.duplicate is True and again.id == r.id
    m.remember(sid, "Miso is a lovely name for a cat", role="assistant")

    with pytest.raises(memd.Conflict) as e:
        m.remember(sid, "elsewhere", namespace="somewhere-else")
    assert e.value.code == "namespace_mismatch" and e.value.status == 409

    imported = m.import_ndjson(
        [
            {
                "session_id": other,
                "role": "user",
                "content": "my sister lives in Lisbon",
                "namespace": f"ns-{kind}",
            },
            {
                "session_id": other,
                "role": "assistant",
                "content": "Lisbon is sunny",
                "namespace": f"ns-{kind}",
            },
        ]
    )
    assert imported == memd.ImportResult(imported=2, duplicates=0, rejected=())
    text = '{"session_id":"%s","role":"user","content":"x","namespace":"ns-%s"}\nnot json\n' % (
        other,
        kind,
    )
    partial = m.import_ndjson(text)
    assert partial.imported == 1 and [r.line for r in partial.rejected] == [2]

    listed = m.sessions()
    assert listed.namespace == f"ns-{kind}"
    assert {s.id for s in listed.sessions} >= {sid, other}
    assert len(m.sessions(limit=1).sessions) == 1
    assert len(m.sessions(limit=1, offset=1).sessions) == 1

    hist = m.session(sid)
    assert hist.session.exchanges == 2
    assert [x.role for x in hist.exchanges] == ["user", "assistant"]
    assert hist.exchanges[0].metadata == {"channel": "web"} and hist.exchanges[0].ext_id == "m1"
    assert [x.id for x in m.session(sid, after=hist.exchanges[0].id).exchanges] == [
        hist.exchanges[1].id
    ]
    assert len(m.session(sid, limit=1).exchanges) == 1

    gone = m.delete_session(other)
    assert gone == memd.DeletedSession(deleted=other, namespace=f"ns-{kind}", exchanges=3)
    with pytest.raises(memd.NotFound):
        m.session(other)


def test_recall(m: Any, kind: str) -> None:
    sid = f"{kind}-recall"
    m.remember(sid, "The capybara sanctuary opens at nine")
    m.remember(sid, "We talked about the weather")
    res = m.recall("when does the capybara sanctuary open", k=3)
    assert isinstance(res, memd.RecallResult) and res.mode == "hybrid"
    assert res.results[0].content == "The capybara sanctuary opens at nine"
    assert res.results[0].tier == "exchange" and res.results[0].explain is None
    assert len(res) == len(list(res)) <= 3

    explained = m.recall("capybara", explain=True, tiers=["exchange"], session_id=sid)
    hit = explained.results[0]
    assert hit.explain is not None and hit.explain.fused > 0 and hit.explain.bm25_rank == 1

    lexical = m.recall("capybara", mode="lexical")
    assert lexical.mode == "lexical" and lexical.results[0].content.startswith("The capybara")
    tuned = m.recall(
        "capybara",
        rrf_k=10,
        fts_weight=2.0,
        vector_weight=0.5,
        candidates=20,
        neighbor_weight=0.0,
        entity_boost=0.0,
        max_term_df=0.5,
        max_terms=8,
        budget_chars=200,
    )
    assert tuned.results and sum(len(h.content) for h in tuned.results) <= 200

    dim = m.status().embedder.dim
    by_vector = m.recall("", vector=[0.5] * dim, mode="vector", k=2)
    assert by_vector.mode == "vector" and len(by_vector.results) <= 2

    assert m.recall("capybara", namespace="nobody-here").results == ()


def test_context(m: Any, kind: str) -> None:
    sid = f"{kind}-context"
    m.remember(sid, "I keep bees on the roof of my flat")
    pack = m.context("what do I keep on the roof", session_id=sid, budget_chars=2000, k=5)
    assert isinstance(pack, memd.ContextPack)
    assert pack.namespace == f"ns-{kind}" and pack.budget_chars == 2000
    assert 0 < pack.used_chars <= 2000
    names = [s.name for s in pack.sections]
    assert "exchanges" in names
    assert "bees" in pack.as_text()
    assert any(i["tier"] == "exchange" for i in pack.ids)
    bare = m.context("bees", without_dream=True)
    assert bare.used_chars > 0


def test_dream_cycle_and_its_tiers(m: Any, kind: str) -> None:
    ns = f"ns-{kind}-dream"
    sid = f"{kind}-dream-1"
    for text in [
        "I am a nurse at the city hospital",
        "I like hiking in the hills on Sundays",
        "My favourite food is ramen",
        "What should I cook for my sister tonight?",
        "I work night shifts most weeks",
        "I like reading science fiction",
    ]:
        m.remember(sid, text, namespace=ns, created_at="2024-05-03T10:00:00Z")
    dry = m.dream(namespace=ns, dry_run=True, force=True)
    assert dry.runs and all(r.dry_run for r in dry.runs)

    done = m.dream(namespace=ns, force=True, until_caught_up=True, wait=True)
    assert isinstance(done, memd.DreamStarted) and done.runs
    run = done.runs[0]
    assert run.namespace == ns and run.trigger == "manual" and not run.dry_run
    assert run.drives_before is not None and 0.0 <= run.drives_before.continuity <= 1.0

    gist = m.gist(sid)
    assert gist.session_id == sid and gist.namespace == ns and gist.text
    assert gist.last_exchange_id > 0 and gist.month == "2024-05"
    eras = m.eras(namespace=ns)
    assert eras.namespace == ns and eras.eras[0].month == "2024-05"
    profile = m.profile(namespace=ns)
    assert profile.namespace == ns and "nurse" in profile.text
    narrative = m.narrative(namespace=ns)
    assert narrative.namespace == ns and narrative.text
    me = m.self_state(namespace=ns)
    assert me.namespace == ns and isinstance(me.state, dict)

    runs = m.dream_runs(namespace=ns, limit=5)
    assert runs and runs[0].namespace == ns and runs[0].id is not None
    assert len(m.dream_runs(namespace=ns, limit=1)) == 1

    started = m.dream(namespace=ns, drive="coherence")
    assert started.started is True and started.runs == ()
    deadline = time.monotonic() + 20
    while True:
        status = m.dream_status()
        assert isinstance(status, memd.DreamStatus)
        if status.running is None:
            break
        assert time.monotonic() < deadline, "the background pass did not finish"
        time.sleep(0.05)

    with pytest.raises(memd.NotFound):
        m.profile(namespace=f"ns-{kind}-empty")
    with pytest.raises(memd.InvalidRequest) as e:
        m.dream(drive="stability")
    assert e.value.code == "invalid_value"


def wait_concept(m: Any, name: str) -> memd.Concept:
    deadline = time.monotonic() + 20
    while True:
        try:
            return m.concept(name)  # type: ignore[no-any-return]
        except memd.NotFound:
            assert time.monotonic() < deadline, f"{name} never appeared"
            time.sleep(0.05)


def test_sources_and_concepts(m: Any, daemon: Daemon) -> None:
    wait_concept(m, "products:1")
    (shop,) = [s for s in m.sources() if s.name == "shop"]
    assert shop.kind == "sqlite" and shop.state in ("ok", "starting")
    assert "products" in shop.tables

    synced = m.sync_source("shop", table="products", full=True)
    assert synced.source == "shop" and synced.tables[0].table == "products"
    assert synced.tables[0].full is True and synced.tables[0].rows == 5
    assert m.sync_source("shop").tables

    c = m.concept("products:1")
    assert (c.source, c.table, c.row_id) == ("shop", "products", "1")
    assert "wombat lamp" in c.text and c.overlay is None

    edited = m.edit_concept("products:1", strength=1.5, text="our best seller")
    assert (
        edited.strength == 1.5
        and edited.overlay == "our best seller"
        and edited.text == "our best seller"
    )
    cleared = m.edit_concept("products:1", clear_text=True)
    assert cleared.overlay is None and cleared.strength == 1.5
    removed = m.remove_concept("products:1", namespace=c.namespace)
    assert removed.removed is True
    back = m.edit_concept("products:1", restore=True, strength=0.85)
    assert back.removed is False

    hooked = m.source_rows("shop", "sync_row", "products", id=2)
    assert hooked.source == "shop" and hooked.result.table == "products"
    batch = m.source_rows(
        "shop",
        "sync_batch",
        "products",
        rows=[{"id": 9, "name": "otter mug", "description": "blue"}],
    )
    assert batch.result.synced == 1
    assert m.source_rows("shop", "delete_row", "products", ids=[9]).result.deleted == 1

    with pytest.raises(memd.NotFound):
        m.concept("products:404")
    with pytest.raises(memd.InvalidRequest):
        m.edit_concept("products:1", strength=99)


def test_checkpoints_export_and_import_all(
    m: Any, kind: str, fresh_daemon: Daemon, tmp_path: Path
) -> None:
    m.remember(f"{kind}-backup", "Remember the spare key is under the blue pot")
    cp = m.checkpoint()
    assert Path(cp.path).exists() and cp.bytes > 0
    listed = m.checkpoints()
    assert cp.path in [s.path for s in listed.snapshots]

    out = tmp_path / "all.jsonl"
    exported = m.export(out)
    assert exported.rows > 0 and exported.lines == exported.rows + 2
    assert out.stat().st_size == exported.bytes

    for target in open_client(kind, socket=fresh_daemon.socket):
        loaded = target.import_all(out)
        assert loaded.rows == exported.rows and loaded.tables["exchanges"] >= 1
        hits = target.recall("spare key", namespace=f"ns-{kind}").results
        assert hits and hits[0].content.startswith("Remember the spare key")
        with pytest.raises(memd.Conflict) as e:
            target.import_all(out.read_bytes())
        assert e.value.code == "store_not_empty"
