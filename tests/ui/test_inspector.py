"""The inspector in a real browser: every page renders its key elements
without a console error or a request leaving the daemon, the drive plot has
one point per dream run, the recall playground shows the explain columns,
hostile memory text renders as text and runs nothing, and nothing gets in
without the token. See conftest.py for the daemon and the browser.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from conftest import HOSTILE_SESSION, NS, Loaded

SHOTS = os.environ.get("MEMD_UI_SCREENSHOTS")


def shoot(page: Page, name: str) -> None:
    """The top of the page, small enough for docs/ (PNG, < 150 KB)."""
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(SHOTS) / f"ui-{name}.png"),
                    clip={"x": 0, "y": 0, "width": 1200, "height": 640})


class Watched:
    """A page whose console errors, uncaught errors, dialogs and requests
    to anywhere but the inspector are recorded."""

    def __init__(self, context: BrowserContext, base: str) -> None:
        self.page: Page = context.new_page()
        self.base = base
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))
        self.page.on("request", lambda r: r.url.startswith(base)
                     or self.problems.append(f"request elsewhere: {r.url}"))

    def visit(self, path: str, shot: str | None = None) -> Page:
        resp = self.page.goto(self.base + path)
        assert resp is not None and resp.status == 200, f"{path}: {resp and resp.status}"
        self.page.wait_for_load_state("load")
        assert self.page.evaluate("window.__pwned") is None, f"{path}: a stored payload ran"
        if SHOTS and shot:
            shoot(self.page, shot)
        return self.page

    def check(self) -> None:
        assert not self.problems, self.problems


@pytest.fixture(scope="module")
def ui(loaded: Loaded, browser: Browser):
    context = browser.new_context(viewport={"width": 1200, "height": 820})
    w = Watched(context, loaded.base)
    # The token once; the cookie from then on, the token gone from the address.
    w.page.goto(f"{loaded.base}/?token={quote(loaded.token)}")
    assert w.page.url == f"{loaded.base}/", w.page.url
    yield w
    context.close()


def test_overview_shows_the_daemon_at_a_glance(ui: Watched) -> None:
    p = ui.visit(f"/?ns={NS}", "overview")
    for section in ["#counts", "#embedder", "#index", "#checkpoints", "#firewall", "#sources",
                    "#dream", "#namespaces"]:
        assert p.locator(section).is_visible(), section
    assert p.locator("#drive-levels tr").count() >= 2
    assert p.locator("#drive-levels meter").count() % 4 == 0
    assert NS in p.locator("#namespaces").inner_text()
    ui.check()


def test_sessions_then_a_session_with_its_gist(ui: Watched) -> None:
    p = ui.visit(f"/sessions?ns={NS}")
    rows = p.locator("#sessions tr.row")
    assert rows.count() >= 19
    p.locator("#sessions tr.row a", has_text="conv-26-s1").first.click()
    p.wait_for_load_state("load")
    assert "/sessions/conv-26-s1" in p.url
    assert p.locator("#turns article.turn").count() >= 10
    gist = p.locator("#gist").inner_text()
    assert "No gist yet" not in gist and len(gist) > 40, gist
    if SHOTS:
        shoot(p, "session")
    ui.check()


def test_time_shows_eras_profile_narrative_and_self_state(ui: Watched, loaded: Loaded) -> None:
    p = ui.visit(f"/time?ns={NS}", "time")
    assert p.locator("#timeline li.era").count() >= 2
    assert p.locator("article.era").count() == p.locator("#timeline li.era").count()
    assert p.locator("#profile .text").inner_text().strip()
    assert p.locator("#profile-statements tr").count() >= 2
    assert p.locator("#narrative .text").inner_text().strip()
    assert p.locator("#self-state .card").count() == 1
    ui.check()


def test_dream_plots_one_point_per_run(ui: Watched, loaded: Loaded) -> None:
    p = ui.visit(f"/dream?ns={NS}", "dream")
    assert loaded.runs >= 2
    for drive in ["continuity", "coherence", "curiosity", "stability"]:
        assert p.locator(f"#drive-plot circle.pt.d-{drive}").count() == loaded.runs, drive
    assert p.locator("#run-table tr.run").count() == loaded.runs
    assert p.locator("#growth-plot rect.bar").count() == loaded.months
    assert "gist" in p.locator("#run-table").inner_text()
    ui.check()


def test_recall_playground_explains_each_hit(ui: Watched) -> None:
    p = ui.visit(f"/recall?ns={NS}")
    p.fill("#q", "What did Caroline research about adoption agencies?")
    p.click("form.query button[type=submit]")
    p.wait_for_load_state("load")
    headers = p.locator("#hits th.explain").all_inner_texts()
    assert headers == ["lexical rank", "vector rank", "cosine", "fused", "boosts"], headers
    hits = p.locator("#hits tr.hit")
    assert hits.count() >= 3
    first = hits.first.locator("td").all_inner_texts()
    assert first[3] != "—" or first[4] != "—", first
    assert p.locator("#pack .pack-section").count() >= 1
    if SHOTS:
        shoot(p, "recall")
    ui.check()


def test_facts_with_history_review_queue_and_as_of(ui: Watched, loaded: Loaded) -> None:
    p = ui.visit(f"/facts?ns={NS}", "facts")
    facts = p.locator("#fact-table").inner_text()
    assert "Caroline lives in Lisbon." in facts
    assert "Caroline lives in Boston." not in p.locator("#fact-table tr.fact td > div.text").all_inner_texts()
    row = p.locator("#fact-table tr.fact", has_text="Caroline lives in Lisbon.")
    row.locator("details summary").click()
    assert "Caroline lives in Boston." in row.locator("details").inner_text()
    assert "Melanie paints sunrises." in p.locator("#review").inner_text()
    assert p.locator("#asof").count() == 1
    # What was true before the supersession.
    p.fill("input[name=as_of]", loaded.facts["old"]["valid_from"])
    p.click("#asof-form button[type=submit]")
    p.wait_for_load_state("load")
    texts = p.locator("#fact-table div.text").all_inner_texts()
    assert "Caroline lives in Boston." in texts and "Caroline lives in Lisbon." not in texts, texts
    ui.check()


def test_a_hostile_turn_renders_as_text_and_runs_nothing(ui: Watched) -> None:
    p = ui.visit(f"/sessions/{HOSTILE_SESSION}?ns={NS}")
    text = p.locator("#turns article.turn .text").inner_text()
    assert "<script>window.__pwned = 'script'</script>" in text
    assert "<img src=x onerror=" in text
    assert p.locator("#turns img, #turns script, #turns a[href^=javascript]").count() == 0
    assert p.locator("a[href*='evil.example']").count() == 0
    assert p.evaluate("window.__pwned") is None
    # The same text through the recall playground.
    p = ui.visit(f"/recall?ns={NS}&q=steal+evil+example")
    assert p.locator("#hits script, #hits img").count() == 0
    assert p.evaluate("window.__pwned") is None
    ui.check()


def test_without_the_token_nothing_opens(loaded: Loaded, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    for path in ["/", f"/sessions?ns={NS}", "/static/ui.js", f"/?token=wrong-{loaded.token}"]:
        resp = page.goto(loaded.base + path)
        assert resp is not None and resp.status == 401, path
        assert "id=\"counts\"" not in page.content(), path
    context.close()
