"""book/api.md lists every module of cstr, as scripts/write_api_page.py writes it."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "write_api_page.py"


def test_the_api_page_is_up_to_date():
    finished = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
