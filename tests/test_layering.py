"""House rule: Qt lives only in app/ui; the rest imports without it (and without torch)."""

import subprocess
import sys

NON_UI = ["app.config", "app.core.fl_config", "app.storage", "app.services", "app.cli"]


def test_non_ui_packages_never_import_qt_or_torch():
    code = (
        "import sys, importlib\n"
        f"for m in {NON_UI!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'pyqtgraph', 'torch'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
