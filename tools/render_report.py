"""Render ``costmodel report`` in headless Chromium (Debian's ``chromium`` package) and save a
screenshot, to look at the page as a colleague's browser shows it.

    python tools/render_report.py --n 512 --d 768 --gpu a100 -o report.png

Chromium runs with no network (``--no-proxy-server`` and a proxy that refuses: a page that
tried to load anything would show the gap), sandbox off (containers), GPU off.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from costmodel.files import write_atomic
from costmodel.report import html_report

WINDOW = "1200,5200"  # width, height in CSS pixels: the whole report in one screenshot
TIMEOUT_S = 90


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--d", type=int, default=768)
    parser.add_argument("--gpu", default="a100")
    parser.add_argument("-o", "--output", required=True, help="screenshot (.png)")
    args = parser.parse_args(argv)
    browser = shutil.which("chromium")
    if browser is None:
        raise SystemExit("render_report: needs Debian's chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        write_atomic(page, html_report(args.n, args.d, args.gpu))
        shot = Path(tmp) / "shot.png"
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--proxy-server=127.0.0.1:9",
                        f"--user-data-dir={tmp}/profile", f"--window-size={WINDOW}",
                        f"--screenshot={shot}", page.as_uri()],
                       check=True, timeout=TIMEOUT_S, capture_output=True)
        write_atomic(args.output, shot.read_bytes())


if __name__ == "__main__":
    main()
