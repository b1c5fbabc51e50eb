"""End-to-end tests of the web interface in a real headless Chromium (Debian's `chromium`, driven by
Playwright with the system browser), against `territoria.web.app` served by uvicorn on loopback with the
embedded stack (SQLite, lexical index, small embedded model qwen2.5-0.5b).

- a question asked with the keyboard only: the cited answer streams in, its citation opens the quoted
  passage, feedback is given and shows in the agent space;
- the « je ne sais pas » state, with where to turn;
- a PDF uploaded by drag and drop (with a broken file: its French reason is shown), then found by search;
- the widget opens on the demo page and answers;
- axe-core (npm package, injected into each page): 0 serious or critical violation on every page; no
  horizontal scrolling at 375 px and at 200 % zoom; visible focus.

Screenshots (desktop 1280×800, mobile 375×812) go to docs/screenshots/ when TERRITORIA_UPDATE_SCREENSHOTS=1,
else to the test's temp dir. Without Chromium (or Playwright, or `npm ci`'s axe-core) the tests are skipped,
except in CI (CI=true) where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
from live_server import ADMIN_PASSWORD, Server, prepare  # noqa: E402

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ANSWER_TIMEOUT_MS = 180_000  # the small model on a busy 2-core machine
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 375, "height": 812}
ZOOM_200 = {"width": 640, "height": 400}  # 1280×800 at 200 %
AXE_RESULTS: dict[str, list] = {}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _require(ok: bool, reason: str) -> None:
    if ok:
        return
    if _in_ci():
        pytest.fail(reason + " (obligatoire en CI)")
    pytest.skip(reason)


def _chromium() -> str | None:
    """TERRITORIA_CHROMIUM when set (and only it), else Debian's /usr/bin/chromium or one on PATH."""
    env = os.environ.get("TERRITORIA_CHROMIUM")
    candidates = [env] if env else ["/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")]
    for c in candidates:
        if c and Path(c).exists():
            return c
    return None


# -- fixtures -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    exe = _chromium()
    _require(exe is not None, "Chromium absent : installez les paquets Debian chromium et chromium-driver")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require(False, "paquet Python playwright absent : pip install -e '.[dev]'")
    _require(AXE.exists(), "axe-core absent : lancez « npm ci » à la racine du dépôt")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(browser, tmp_path_factory, shared_dir):
    d = tmp_path_factory.mktemp("webui-browser") / "data"
    prepare(d, shared=shared_dir)
    srv = Server(d).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    if os.environ.get("TERRITORIA_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture()
def page(browser, server):
    # bypass_csp: only so that axe-core can be injected (the pages forbid inline scripts)
    ctx = browser.new_context(viewport=DESKTOP, locale="fr-FR", base_url=server.url, bypass_csp=True)
    ctx.set_default_timeout(30_000)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ctx.close()
    assert not errors, f"erreurs JavaScript : {errors}"


def _login(pg) -> None:
    pg.goto("/espace-agent/connexion")
    pg.fill("#identifiant", "admin")
    pg.fill("#mot-de-passe", ADMIN_PASSWORD)
    pg.click("button[type=submit]")
    pg.wait_for_url("**/espace-agent/documents")


# -- checks -----------------------------------------------------------------------------------------------

def axe_check(target, name: str) -> list:
    """Run axe-core in the page (or frame); fail on serious or critical violations."""
    target.add_script_tag(path=str(AXE))
    res = target.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' — ' + (n.failureSummary || ''))}));
    }""")
    AXE_RESULTS[name] = res
    bad = [v for v in res if v["impact"] in ("serious", "critical")]
    assert not bad, f"axe-core, page {name} : " + json.dumps(bad, ensure_ascii=False, indent=1)
    return res


def no_horizontal_scroll(pg, name: str) -> None:
    for vp in (MOBILE, ZOOM_200):
        pg.set_viewport_size(vp)
        over = pg.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert over <= 1, f"{name} : défilement horizontal de {over} px à {vp['width']} px de large"
    pg.set_viewport_size(DESKTOP)


def focus_is_visible(pg) -> bool:
    return pg.evaluate("""() => {
        let e = document.activeElement;
        while (e && e.shadowRoot && e.shadowRoot.activeElement) e = e.shadowRoot.activeElement;
        if (!e || e === document.body) return false;
        const s = getComputedStyle(e);
        const label = e.id ? document.querySelector('label[for="' + e.id + '"]') : null;
        const ls = label ? getComputedStyle(label) : null;
        return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== 'none'
            || (ls && ls.outlineStyle !== 'none' && parseFloat(ls.outlineWidth) >= 2);
    }""")


def tab_until(pg, js_predicate: str, *, back: bool = False, limit: int = 40) -> int:
    """Press Tab (or Shift+Tab) until the focused element matches; every focus stop must be visible."""
    for i in range(1, limit + 1):
        pg.keyboard.press("Shift+Tab" if back else "Tab")
        assert focus_is_visible(pg), "focus invisible sur : " + pg.evaluate("() => document.activeElement.outerHTML.slice(0, 200)")
        if pg.evaluate(f"() => {{ const e = document.activeElement; return !!({js_predicate}); }}"):
            return i
    raise AssertionError(f"élément jamais atteint au clavier : {js_predicate}")


WATCH_STREAM = """() => {
    window.__stream = {busy: false, texts: [], finished: null};
    const fil = document.getElementById('fil');
    new MutationObserver(() => {
        const box = fil.querySelector('li.msg-assistant:last-child');
        if (!box || box.classList.contains('msg-accueil')) return;
        if (fil.getAttribute('aria-busy') === 'true') window.__stream.busy = true;
        const t = box.querySelector('.msg-texte').textContent;
        const texts = window.__stream.texts;
        if (t && !box.querySelector('.avis') && texts[texts.length - 1] !== t) texts.push(t);
        if (box.querySelector('.avis, .aide-abstention') && !window.__stream.finished) window.__stream.finished = Date.now();
    }).observe(fil, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


# -- tests -------------------------------------------------------------------------------------------------

def test_citizen_keyboard_only_cited_answer_and_feedback(page, server, shots, browser):
    pg = page
    pg.goto("/")
    assert pg.get_attribute("html", "lang") == "fr"
    assert pg.get_attribute("#fil", "aria-live") == "polite"
    pg.keyboard.press("Tab")
    assert pg.evaluate("document.activeElement.textContent") == "Aller au contenu" and focus_is_visible(pg)
    tab_until(pg, "e.id === 'question'")
    pg.evaluate(WATCH_STREAM)
    pg.keyboard.type("Comment refaire une carte d'identité perdue ?")
    pg.keyboard.press("Enter")
    pg.wait_for_selector("#fil li.msg-assistant:last-child .avis", timeout=ANSWER_TIMEOUT_MS)
    stream = pg.evaluate("window.__stream")
    assert stream["busy"] and stream["texts"], stream  # the text arrived (aria-busy) before the final answer
    assert pg.get_attribute("#fil", "aria-busy") == "false"
    assert pg.evaluate("document.activeElement.id") == "question"  # focus stays in the question field
    answer = pg.locator("#fil li.msg-assistant:last-child")
    assert "msg-abstention" not in (answer.get_attribute("class") or "")
    cite = answer.locator(".msg-texte a.appel").first
    assert cite.inner_text() == "[1]" and cite.get_attribute("aria-label").startswith("Source 1 : ")

    # keyboard only: back from the question field to the citation, open it, then give feedback
    tab_until(pg, "e.classList.contains('appel')", back=True)
    pg.keyboard.press("Enter")
    assert pg.evaluate("document.activeElement.tagName") == "SUMMARY"
    assert pg.evaluate("document.activeElement.parentElement.open")
    quote = answer.locator(".sources-liste li").first.locator("blockquote")
    assert quote.is_visible() and len(quote.inner_text()) > 20
    pg.keyboard.press("Tab")
    link = pg.evaluate("[document.activeElement.textContent, document.activeElement.href]")
    assert link[0].startswith("Consulter la source sur service-public.fr") and link[1].startswith("https://www.service-public.fr/")
    tab_until(pg, "e.textContent === 'Oui, utile'")
    pg.keyboard.press("Space")
    pg.wait_for_function("() => document.querySelector('#fil li:last-child .avis-etat').textContent.startsWith('Merci')")
    assert answer.locator("button", has_text="Oui, utile").get_attribute("aria-pressed") == "true"
    tab_until(pg, "e.tagName === 'TEXTAREA' && e.id.endsWith('-commentaire')")
    pg.keyboard.press("Tab")
    pg.keyboard.press("Enter")  # an empty comment: said in the error colour, not the success one, focus back
    pg.wait_for_function("() => document.querySelector('#fil li:last-child .avis-etat').classList.contains('avis-etat-erreur')")
    assert pg.evaluate("document.activeElement.tagName") == "TEXTAREA"
    pg.keyboard.type("Clair, merci.")
    pg.keyboard.press("Tab")
    pg.keyboard.press("Enter")
    pg.wait_for_function("() => document.querySelector('#fil li:last-child .avis-etat').textContent.includes('commentaire a été enregistré')")
    assert not pg.evaluate("document.querySelector('#fil li:last-child .avis-etat').classList.contains('avis-etat-erreur')")

    axe_check(pg, "citoyen (réponse)")
    no_horizontal_scroll(pg, "citoyen")
    pg.screenshot(path=str(shots / "citoyen-bureau.png"), full_page=True)
    pg.set_viewport_size(MOBILE)
    pg.screenshot(path=str(shots / "citoyen-mobile.png"), full_page=True)

    # the agent space shows the answer with its feedback
    _login(pg)
    pg.goto("/espace-agent/reponses?avis=utile")
    entry = pg.locator(".journal-entree").first
    assert "Comment refaire une carte d'identité perdue ?" in entry.inner_text()
    assert "Utile" in entry.inner_text() and "Clair, merci." in entry.inner_text()
    axe_check(pg, "agent — réponses et avis")


def test_citizen_dont_know_state(page, shots):
    pg = page
    pg.goto("/")
    pg.fill("#question", "Comment adopter un chat dans un refuge ?")
    pg.click("#envoyer")
    box = pg.locator("#fil li.msg-abstention")
    box.wait_for(timeout=ANSWER_TIMEOUT_MS)
    text = box.inner_text()
    assert "Je n'ai pas trouvé de réponse fiable" in text and "Où vous adresser ?" in text
    assert "l'accueil de la mairie de Saint-Exemple" in text and "01 23 45 67 89" in text and "39 39" in text
    assert box.locator(".sources").count() == 0
    pg.wait_for_function("() => document.getElementById('etat').textContent.includes('pas trouvé de réponse fiable')")
    axe_check(pg, "citoyen (je ne sais pas)")
    # the aid finder page: keyboard-usable form; without a catalogue the search says so in French
    pg.goto("/aides")
    axe_check(pg, "citoyen — trouver une aide")
    pg.fill("#besoin", "financer mon permis de conduire")
    pg.fill("#commune", "Vesoul")
    pg.keyboard.press("Tab")
    pg.click("button[type=submit]")
    pg.wait_for_selector(".alerte-erreur")
    assert "aide" in pg.inner_text(".alerte-erreur").lower()
    axe_check(pg, "citoyen — trouver une aide (sans catalogue)")
    no_horizontal_scroll(pg, "trouver une aide")
    pg.goto("/")
    # an empty question is refused with a message tied to the field
    pg.fill("#question", "")
    pg.keyboard.press("Enter")
    assert pg.get_attribute("#question", "aria-invalid") == "true" and pg.is_visible("#question-erreur")


def _pdf_bytes() -> bytes:
    from io import BytesIO

    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.setTitle("Règlement du marché de Noël de Saint-Exemple")
    y = 780
    for line in ["Règlement du marché de Noël de Saint-Exemple", "",
                 "Article 1. Le marché de Noël se tient sur la place de la Mairie du 1er au 24 décembre.",
                 "Article 2. Les exposants versent une redevance de 45 euros par chalet et par semaine.",
                 "Article 3. Les candidatures sont déposées à l'accueil de la mairie avant le 15 octobre."]:
        c.drawString(60, y, line)
        y -= 22
    c.showPage()
    c.save()
    return buf.getvalue()


def test_agent_upload_pdf_by_drag_and_drop_then_search(page, shots):
    pg = page
    pg.goto("/espace-agent/documents")
    assert "/espace-agent/connexion" in pg.url  # login required
    axe_check(pg, "agent — connexion")
    _login(pg)
    pdf = _pdf_bytes()
    # drop two files on the zone: a real PDF and a broken one
    pg.evaluate("""([pdf, broken]) => {
        const dt = new DataTransfer();
        dt.items.add(new File([Uint8Array.from(atob(pdf), c => c.charCodeAt(0))], 'marche-de-noel.pdf', {type: 'application/pdf'}));
        dt.items.add(new File([broken], 'illisible.pdf', {type: 'application/pdf'}));
        const zone = document.getElementById('zone-depot');
        zone.dispatchEvent(new DragEvent('dragenter', {dataTransfer: dt, bubbles: true}));
        zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));
    }""", [__import__("base64").b64encode(pdf).decode(), "%PDF-1.4 fichier tronqué"])
    pg.wait_for_function("() => document.querySelectorAll('#envois .envoi-ok, #envois .envoi-echec').length === 2",
                         timeout=120_000)
    ok = pg.locator("#envois .envoi-ok").inner_text()
    failed = pg.locator("#envois .envoi-echec").inner_text()
    assert "marche-de-noel.pdf" in ok and "Indexé" in ok
    assert "illisible.pdf" in failed and "Échec : " in failed
    reason = failed.split("Échec : ", 1)[1].strip()
    assert len(reason) > 10
    assert pg.is_visible("#envois-fin a")
    pg.goto("/espace-agent/documents")
    assert pg.locator("#liste-documents", has_text="marche-de-noel.pdf").count() == 1
    fail_table = pg.locator("table", has_text="illisible.pdf")
    assert reason[:30] in fail_table.inner_text()
    axe_check(pg, "agent — documents")
    no_horizontal_scroll(pg, "agent documents")
    pg.screenshot(path=str(shots / "agent-documents-bureau.png"), full_page=True)
    pg.set_viewport_size(MOBILE)
    pg.screenshot(path=str(shots / "agent-documents-mobile.png"), full_page=True)
    pg.set_viewport_size(DESKTOP)

    pg.goto("/espace-agent/recherche")
    pg.fill("#recherche-q", "redevance chalet marché de Noël")
    pg.keyboard.press("Enter")
    pg.wait_for_selector(".resultat")
    first = pg.locator(".resultat").first
    assert "Règlement du marché de Noël" in first.inner_text() and "marche-de-noel.pdf" in first.inner_text()
    assert first.locator(".score").inner_text().startswith("Score : ")
    axe_check(pg, "agent — recherche")
    no_horizontal_scroll(pg, "agent recherche")
    pg.screenshot(path=str(shots / "agent-recherche-bureau.png"), full_page=True)
    pg.set_viewport_size(MOBILE)
    pg.screenshot(path=str(shots / "agent-recherche-mobile.png"), full_page=True)
    pg.set_viewport_size(DESKTOP)

    pg.goto("/espace-agent/comptes")
    axe_check(pg, "agent — comptes et clés")
    no_horizontal_scroll(pg, "agent comptes")

    pg.goto("/espace-agent/journal?verifier=1")
    assert "Journal intègre" in pg.inner_text("main")
    axe_check(pg, "agent — journal d'audit")
    no_horizontal_scroll(pg, "agent journal")

    pg.goto("/espace-agent/personnalisation")
    axe_check(pg, "agent — personnalisation")
    no_horizontal_scroll(pg, "agent personnalisation")

    # delete it again from the list (with the confirmation dialog)
    pg.goto("/espace-agent/documents?q=noël")
    pg.once("dialog", lambda d: d.accept())
    pg.locator("tr", has_text="marche-de-noel.pdf").locator("button", has_text="Supprimer").click()
    pg.wait_for_selector(".alerte-succes")
    assert "a été supprimé" in pg.locator(".alerte-succes").inner_text()


def test_widget_opens_on_demo_page_and_answers(page, shots):
    pg = page
    pg.goto("/widget/demo")
    bubble = pg.locator("#territoria-widget .bulle")
    bubble.wait_for()
    assert bubble.get_attribute("aria-expanded") == "false"
    axe_check(pg, "démonstration du module (fermé)")
    tab_until(pg, "e.id === 'territoria-widget' && e.shadowRoot.activeElement.classList.contains('bulle')")
    pg.keyboard.press("Enter")
    assert bubble.get_attribute("aria-expanded") == "true"
    panel = pg.locator("#territoria-widget .panneau")
    assert panel.is_visible() and panel.get_attribute("role") == "dialog"
    frame = pg.frame_locator("#territoria-widget iframe")
    frame.locator("#question").wait_for()
    pg.wait_for_function("() => { const f = document.querySelector('#territoria-widget').shadowRoot.querySelector('iframe');"
                         " return f.contentDocument && f.contentDocument.activeElement && f.contentDocument.activeElement.id === 'question'; }")
    pg.keyboard.type("Combien coûte un passeport ?")
    pg.keyboard.press("Enter")
    frame.locator("#fil li.msg-assistant:last-child .avis, #fil li.msg-assistant:last-child .aide-abstention").first.wait_for(
        timeout=ANSWER_TIMEOUT_MS)
    reply = frame.locator("#fil li.msg-assistant:last-child").inner_text()
    assert "Assistant (IA)" in reply and len(reply) > 60
    assert frame.locator(".notice-ia").is_visible()
    axe_check(pg, "démonstration du module (ouvert)")
    axe_check(pg.frame(url=lambda u: "/widget/panneau" in u), "module — panneau de discussion")
    no_horizontal_scroll(pg, "démonstration du module")
    pg.screenshot(path=str(shots / "module-demo-bureau.png"))
    pg.set_viewport_size(MOBILE)
    pg.screenshot(path=str(shots / "module-demo-mobile.png"))
    pg.set_viewport_size(DESKTOP)
    # Escape (inside the chat) closes the panel and gives the focus back to the button
    pg.keyboard.press("Escape")
    panel.wait_for(state="hidden")
    assert bubble.get_attribute("aria-expanded") == "false"
    assert pg.evaluate("document.querySelector('#territoria-widget').shadowRoot.activeElement.classList.contains('bulle')")


@pytest.mark.parametrize("path,name", [("/informations", "informations"), ("/accessibilite", "accessibilité"),
                                       ("/sources?doc=F1344", "source"), ("/widget/panneau", "module — panneau (vide)")])
def test_other_pages_axe_and_reflow(page, path, name):
    page.goto(path)
    axe_check(page, name)
    no_horizontal_scroll(page, name)
    page.keyboard.press("Tab")
    assert focus_is_visible(page)


def test_zz_axe_summary(shots):
    """Writes the axe-core results of this run (all impacts) next to the screenshots."""
    if not AXE_RESULTS:
        pytest.skip("aucune page contrôlée")
    summary = {name: {"serious_or_critical": sum(v["impact"] in ("serious", "critical") for v in res),
                      "other": [f"{v['id']} ({v['impact']})" for v in res if v["impact"] not in ("serious", "critical")]}
               for name, res in AXE_RESULTS.items()}
    (shots / "axe-resultats.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    assert all(v["serious_or_critical"] == 0 for v in summary.values())
