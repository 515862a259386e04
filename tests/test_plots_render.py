"""`dvc plots show` draws every plot defined in dvc.yaml, offline, in a real headless browser."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# vega logs its own failures as "ERROR ..." and an exception surfaces as "Uncaught ..."; its warnings
# ("WARN ...", e.g. from DVC's built-in templates) are not failures
CONSOLE_ERROR = re.compile(r'CONSOLE.*"(Uncaught|ERROR|Error)')
EMBED_DIV = re.compile(r'<div id="([^"]+)" class="vega-embed')


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, installed here where it is missing and we may (root with apt-get)."""
    path = shutil.which("chromium")
    if path is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                       "apt-get install -y -qq --no-install-recommends chromium",
                       shell=True, capture_output=True, timeout=900)
        path = shutil.which("chromium")
    if path is None:
        message = "this test needs Chromium (Debian: apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def test_plots_show_draws_every_defined_plot_offline(chromium, tmp_path):
    definitions = yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]
    vega_titles = [next(iter(entry)) for entry in definitions if isinstance(entry, dict)]
    assert vega_titles, "dvc.yaml defines no data plots"

    subprocess.run([sys.executable, "-m", "dvc", "plots", "show", "-o", str(tmp_path / "page")], cwd=REPO,
                   check=True, capture_output=True)
    page = tmp_path / "page" / "index.html"
    html = page.read_text(encoding="utf8")
    assert not re.search(r"<script[^>]*\ssrc=", html), "the page loads a script from outside itself"

    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [line for line in result.stderr.splitlines() if CONSOLE_ERROR.search(line)] == []

    dom = result.stdout
    embeds = list(EMBED_DIV.finditer(dom))
    # one drawing per definition: none left undrawn, and no extra default plot of a stage's output
    assert len(embeds) == len(vega_titles)
    for embed, following in zip(embeds, embeds[1:] + [None]):
        body = dom[embed.end():following.start() if following else len(dom)]
        assert "<canvas" in body, f"plot {embed.group(1)} did not draw"
    images = [entry for entry in definitions if isinstance(entry, str)]
    assert dom.count("<img") >= len(images)
