"""The slide decks in a real browser: offline, and every slide inside 1280 x 720.

The decks are made from the lessons exactly as nbval ran them earlier in this
pytest process (the root conftest keeps their outputs), so the pictures and
printouts on the slides are real ones, and no lesson runs twice. `make test`
runs this module on the lessons' worker, after them (``after_lessons``).

Headless Chromium and ChromeDriver come from Debian's packages (``make
browser``, which ``.ci/run`` calls); reveal.js from npm (``npm ci``, which
``make test`` runs when npm is there). Without either, the test skips and says
which is missing.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from tools import course_site, slides
from tools.common import lesson_paths

pytestmark = pytest.mark.after_lessons

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")

#: Chromium flags for a headless run that makes no request of its own (the machine may have no network).
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--hide-scrollbars", "--disable-dev-shm-usage",
         f"--window-size={slides.WIDTH},{slides.HEIGHT}",
         # A request for any other host fails at once instead of waiting for a network.
         "--host-resolver-rules=MAP * ~NOTFOUND")

#: Visits every slide and measures it in the deck's own coordinates (the configured width and height).
MEASURE = """
const config = Reveal.getConfig(), found = [];
for (const slide of Reveal.getSlides()) {
  const at = Reveal.getIndices(slide);
  Reveal.slide(at.h, at.v);
  const scrolling = [...slide.querySelectorAll('pre, .jp-OutputArea-output, table')]
    .filter(e => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1).length;
  const broken = [...slide.querySelectorAll('img')].filter(i => !i.complete || i.naturalWidth === 0).length;
  found.push({h: at.h, v: at.v, height: slide.scrollHeight, width: slide.scrollWidth, scrolling, broken,
              images: slide.querySelectorAll('img').length,
              text: (slide.innerText || '').trim().split('\\n')[0].slice(0, 60)});
}
return {width: config.width, height: config.height, slides: found};
"""


def _missing_tools() -> str | None:
    if not (CHROMIUM and CHROMEDRIVER):
        return ("headless Chromium and ChromeDriver are not installed: `make browser` installs Debian's "
                "chromium and chromium-driver packages")
    if not slides.reveal_installed():
        return "reveal.js is not installed: `npm ci` (run by `make test` and `make slides` when npm is there)"
    return None


@pytest.fixture(scope="module")
def decks(executed_lessons: dict[str, tuple[nbformat.NotebookNode, set[int]]],
          tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The decks of the lessons as nbval ran them in this process (`make slides` on a `make tutorial` build)."""
    missing = _missing_tools()
    if missing:
        pytest.skip(missing)
    lessons = lesson_paths()
    ran = {Path(path).name: entry for path, entry in executed_lessons.items()}
    if not ran:
        pytest.skip("no lesson ran in this pytest process: run this module together with notebooks/, "
                    "as `make test` does")
    incomplete = [p.name for p in lessons if p.name not in ran or
                  {i for i, c in enumerate(ran[p.name][0].cells) if c.cell_type == "code"} - ran[p.name][1]]
    assert not incomplete, f"these lessons did not run to the end under nbval, so they have no decks: {incomplete}"
    build = tmp_path_factory.mktemp("slides-build")
    (build / "executed").mkdir()
    for path in lessons:
        nbformat.write(ran[path.name][0], build / "executed" / path.name)
    course_site.build_slides(build, build / "slides")
    return build / "slides"


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through ChromeDriver, with its network log on."""
    missing = _missing_tools()
    if missing:
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _requests(browser) -> list[str]:
    """The URLs requested since the last call (Chromium's network log)."""
    events = [json.loads(entry["message"])["message"] for entry in browser.get_log("performance")]
    return [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]


def _open(browser, page: Path) -> list[str]:
    """Open ``page``, wait until reveal.js is ready; return every URL the page requested."""
    _requests(browser)  # forget the previous page's requests
    browser.get(page.resolve().as_uri())
    for _ in range(100):
        if browser.execute_script("return typeof Reveal !== 'undefined' && Reveal.isReady()"):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"{page.name}: reveal.js did not start (is {slides.REVEAL_FOLDER}/ beside it?)")
    return _requests(browser)


def _outside(urls: list[str], folder: Path) -> list[str]:
    """The URLs that leave ``folder``: another host, or a file elsewhere on this machine."""
    inside = folder.resolve().as_uri() + "/"
    return [url for url in urls if not (url.startswith(inside) or url.startswith("data:"))]


def test_every_deck_works_offline_and_every_slide_fits_1280_by_720(decks: Path, browser) -> None:
    overflowing, external, pictures = [], {}, 0
    for path in lesson_paths():
        deck = decks / f"{path.stem}.slides.html"
        requests = _open(browser, deck)
        assert any(url.endswith("/dist/reveal.js") for url in requests), f"{deck.name} did not load reveal.js"
        measured = browser.execute_script(MEASURE)
        requests += _requests(browser)  # what showing each slide asked for (pictures, fonts)
        outside = _outside(requests, decks)
        if outside:
            external[deck.name] = outside
        assert (measured["width"], measured["height"]) == (slides.WIDTH, slides.HEIGHT)
        assert len(measured["slides"]) >= 5, f"{deck.name}: only {len(measured['slides'])} slides"
        for slide in measured["slides"]:
            pictures += slide["images"]
            assert not slide["broken"], f"{deck.name} slide {slide['h']}/{slide['v']}: a picture did not load"
            if slide["height"] > slides.HEIGHT or slide["width"] > slides.WIDTH or slide["scrolling"]:
                overflowing.append(f"{deck.name} #/{slide['h']}/{slide['v']} ({slide['width']} x {slide['height']}, "
                                   f"{slide['scrolling']} scrolling boxes): {slide['text']}")
    assert not external, f"requests that leave the decks' folder: {external}"
    assert not overflowing, "slides larger than 1280 x 720:\n" + "\n".join(overflowing)
    assert pictures >= 5, f"only {pictures} pictures in all the decks: the lessons' plots are missing"


def test_the_slides_index_opens_offline_and_links_every_deck(decks: Path, browser) -> None:
    _requests(browser)
    browser.get((decks / "index.html").resolve().as_uri())
    links = browser.execute_script("return [...document.querySelectorAll('a')].map(a => a.href)")
    assert [Path(link).name for link in links] == [f"{p.stem}.slides.html" for p in lesson_paths()]
    urls = _requests(browser)
    assert urls and not _outside(urls, decks), urls
