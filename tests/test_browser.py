"""Pages checked in a real browser (headless Chromium driven by selenium): the sweep report's HTML.

Chromium is Debian's ``chromium`` + ``chromium-driver`` (.ci/run installs them); without them, or
without selenium, these tests skip. selenium is pointed at /usr/bin/chromedriver, so selenium-manager
never tries to download a browser or a driver."""

import base64
import io
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from caseray.data.splits import SplitSpec
from caseray.report.build import build_report
from caseray.trial.control import control_spec
from synthetic import record

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
WIDTH, HEIGHT = 1400, 2000
SCREENSHOT_COPY = Path("/tmp/report_screenshot.png")  # for a person to look at after the run


@pytest.fixture
def headless_chromium(tmp_path):
    """A selenium Chrome driver on headless Chromium with its own profile under ``tmp_path``; quit after
    the test. Skips when Chromium, chromedriver or selenium is missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        why = f"no {' or '.join(missing)}: apt-get install chromium chromium-driver (as .ci/run does)"
        pytest.fail(why) if os.environ.get("CI") else pytest.skip(why)  # CI installs it: never a silent skip
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[test])")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", "--hide-scrollbars",
                f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--window-size={WIDTH},{HEIGHT}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console errors, e.g. a failed image
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log")),
                              options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, script: str, timeout: float = 30.0, args: tuple = ()):
    """Poll the JavaScript expression ``script`` (``return ...``, given ``args`` as ``arguments``) until
    it is truthy; its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: d.execute_script(script, *args))


def broken_images(driver) -> list[str]:
    """The src of every <img> that did not load (not complete, or no pixels)."""
    return driver.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")


def console_errors(driver) -> list[str]:
    """The page's SEVERE console messages (failed loads, script errors) since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def full_page_screenshot(driver, path: Path, max_height: int = 12000) -> np.ndarray:
    """A screenshot of the whole page (the window stretched to the page's height, at most ``max_height``)
    saved as PNG at ``path``; returns its pixels (height x width x channels, floats in [0, 1])."""
    import matplotlib.image

    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WIDTH, min(max(height, HEIGHT), max_height))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(path)), f"no screenshot written to {path}"
    return matplotlib.image.imread(path)


def _sweep():
    """tokenizer x square h = 2, 3 x 2 seeds, each with its random-split control: number tokens leave a
    hole of ring <= 1, digits none (hole maps, signature, square size and the radius figure)."""
    records = []
    for tokenizer in ("number", "digit"):
        for h in (2, 3):
            for seed in (0, 1):
                square = record(tokenizer=tokenizer, split=SplitSpec(center=(10, 10), half_width=h), seed=seed,
                                hole=1 if tokenizer == "number" else -1)
                records += [square, record(tokenizer=tokenizer, split=control_spec(square.spec).split, seed=seed,
                                           hole=-1)]
    return records


@pytest.mark.slow
def test_report_html_renders_with_every_image_and_table(headless_chromium, tmp_path):
    import matplotlib.image

    records = _sweep()
    out = tmp_path / "report"
    build_report("browser-0001", records, out, per_seed=False)
    driver = headless_chromium
    driver.get((out / "report.html").as_uri())  # images are relative: file:// loads them
    wait_for(driver, "return document.readyState === 'complete'")

    # every static figure is inside the page (a data URI) and loaded at the size of the PNG the report wrote
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('alt'), i.getAttribute('src'), i.complete,"
        " i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width])")
    assert broken_images(driver) == []
    alts = [alt for alt, *_ in images]
    for alt in ("Case-based signature", "Square size", "hole depth against h"):
        assert alt in alts, f"{alt} is not on the page: {alts}"
    for alt, src, complete, width, height, shown in images:
        assert src.startswith("data:image/png;base64,"), f"{alt} is not inside the page"
        pixels = matplotlib.image.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert complete and (height, width) == pixels.shape[:2], alt
        column = driver.execute_script("return document.body.clientWidth") - 48  # less its padding
        assert abs(shown - min(width, column)) <= 2, f"{alt} is drawn {shown}px wide"  # its size, at most the column
    # the hole maps are plotly's: a heat map per panel (8 groups) and per trial (16), drawn
    drawn = wait_for(driver, "return [document.querySelectorAll('#holemaps g.hm').length,"
                             " document.querySelectorAll('#holemaps-trials g.hm').length]")
    assert drawn == [8, 16]
    assert console_errors(driver) == []

    # the tables: the summary's header is the sweep's axes, counts and the records' metrics
    tables = driver.find_elements("tag name", "table")
    assert len(tables) >= 2  # the summary and the coverage table at least
    assert len(tables) == (out / "report.md").read_text().count("\n\n|")  # every markdown table became one
    header = [th.text for th in tables[0].find_elements("tag name", "th")]
    metrics = [m for m in ("train_acc", "test_acc", "square_acc", "centre_acc") if m in records[0].metrics]
    assert len(metrics) == 4
    assert header[:4] == ["split", "tokenizer", "trials", "seeds"] and set(metrics) <= set(header), header
    groups = {(replace(r.spec.split, seed=0), r.spec.tokenizer) for r in records}  # a control's seed is its own
    rows = tables[0].find_elements("tag name", "tr")[1:]
    assert len(rows) == len(groups) == 8
    assert {r.find_elements("tag name", "td")[1].text for r in rows} == {"number", "digit"}
    assert driver.find_element("tag name", "h1").text == "Sweep browser-0001"

    # a screenshot of the whole page: not blank, and it holds the figures' colours, not just text
    shot = full_page_screenshot(driver, tmp_path / "report_screenshot.png")
    shutil.copyfile(tmp_path / "report_screenshot.png", SCREENSHOT_COPY)
    rgb = shot[..., :3].reshape(-1, 3)
    assert shot.shape[1] == WIDTH and shot.shape[0] >= HEIGHT
    assert np.ptp(rgb, axis=0).max() > 0.5, "the screenshot is one colour"
    rgb8 = (rgb * 255).round().astype(np.uint32)
    colours = np.unique(rgb8[:, 0] << 16 | rgb8[:, 1] << 8 | rgb8[:, 2])  # one int per colour: a fast unique
    assert len(colours) > 200, f"only {len(colours)} colours: the figures did not render"
    background = (rgb == rgb[0]).all(axis=1).mean()
    assert background < 0.95, f"{background:.0%} of the screenshot is the background colour"


HOVER_SCREENSHOT_COPY = Path("/tmp/report_hover_screenshot.png")


def hover_lines(driver, div: str, axis: str, a: int, b: int) -> list[str]:
    """Point the mouse at cell (a, b) of subplot ``axis`` ("" for the first) of plotly figure ``div``;
    the hover label's lines."""
    from selenium.webdriver.common.action_chains import ActionChains

    figure = driver.find_element("id", div)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", figure)
    dx, dy = driver.execute_script(
        "const gd = arguments[0], fl = gd._fullLayout, box = gd.getBoundingClientRect();"
        "const xa = fl['xaxis' + arguments[1]], ya = fl['yaxis' + arguments[1]];"
        "return [xa._offset + xa.l2p(arguments[3]) - box.width / 2,"
        "        ya._offset + ya.l2p(arguments[2]) - box.height / 2]",
        figure, axis, a, b)
    ActionChains(driver).move_to_element_with_offset(figure, round(dx), round(dy)).perform()
    return wait_for(driver, "const label = document.querySelector('#' + arguments[0] + ' .hoverlayer .hovertext');"
                            "return label && Array.from(label.querySelectorAll('tspan.line')).map(t => t.textContent)",
                    timeout=10, args=(div,))


@pytest.mark.slow
def test_pointing_at_a_failed_cell_tells_what_the_model_said(headless_chromium, tmp_path):
    """Two tiny models (seeds 0, 1) trained briefly; report.html opened from a file with the network off:
    the mouse on a cell seed 0 got wrong shows its prompt and, from cells.parquet, what each model said."""
    import pyarrow.parquet as pq

    from caseray.sweep.results import TrialRecord
    from caseray.train.spec import TrainSpec
    from caseray.trial.run import run_trial
    from helpers import tiny_spec

    os.environ["CASERAY_CACHE"] = str(tmp_path / "cache")
    records = []
    for seed in (0, 1):
        spec = tiny_spec(tokenizer="digit", seed=seed, train=TrainSpec(steps=150, lr=3e-3, batch_size=64,
                                                                       log_every=1000))
        result = run_trial(spec, tmp_path / "trials")
        records.append(TrialRecord(spec, result.metrics, pq.read_table(result.cells_path)))
    said = [dict(zip(zip(r.cells["a"].to_pylist(), r.cells["b"].to_pylist()), r.cells["output"].to_pylist()))
            for r in records]
    # a held-out cell seed 0 got wrong, saying something (read from its cells.parquet, not the page)
    test = records[0].cells["split"].to_pylist()
    (a, b), output = next(((a, b), o) for (a, b), o, t in zip(said[0], said[0].values(), test) if o and t == "test")
    out = tmp_path / "report"
    build_report("hover-0001", records, out)

    driver = headless_chromium
    driver.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    driver.get((out / "report.html").as_uri())
    wait_for(driver, "return document.readyState === 'complete' && document.querySelectorAll('g.hm').length === 3")
    # seed 0's own map (the first of "Each trial"): its prompt, target and output
    lines = hover_lines(driver, "holemaps-trials", "", a, b)
    assert lines[0].startswith(f"a={a}, b={b} (test): exact 0%"), lines
    assert f"prompt: {a}+{b}=" in lines and f"target: {a + b}" in lines and f"output: {output}" in lines, lines
    shot = tmp_path / "hover.png"
    driver.save_screenshot(str(shot))
    shutil.copyfile(shot, HOVER_SCREENSHOT_COPY)
    # the grid's panel averages both seeds: each model's answer there, "right" where it was
    lines = hover_lines(driver, "holemaps", "", a, b)
    other = said[1][(a, b)]
    assert f"output: seed 0: {output}" in lines and (f"seed 1: {other}" in lines if other else True), lines
    assert f"prompt: {a}+{b}=" in lines
    # nothing came from the network (it was off) and nothing failed
    fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [u for u in fetched if not u.startswith(("data:", "file:"))] == []
    assert console_errors(driver) == []
