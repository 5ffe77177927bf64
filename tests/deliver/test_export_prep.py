"""Export preparation is library work: the app's Export page gets it without the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _modules_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    return set(out.stdout.split())


def test_export_page_imports_neither_typer_nor_the_cli():
    loaded = _modules_after_import("hoth_geo.ui.pages.export")
    assert "hoth_geo.deliver.export_prep" in loaded
    assert "typer" not in loaded
    assert not {m for m in loaded if m.startswith("hoth_geo.cli")}


def test_cli_export_uses_the_library_functions():
    from hoth_geo.cli import export as cli_export
    from hoth_geo.deliver import export_prep

    assert cli_export.prepare_export is export_prep.prepare_export
    assert cli_export.record is export_prep.record


def test_pdf_page_count_counts_page_objects_not_the_pages_tree():
    pdf = (
        b"%PDF-1.4\n1 0 obj << /Type /Pages /Count 2 >>\n2 0 obj << /Type /Page >>\n3 0 obj << /Type/Page >>"
    )
    from hoth_geo.deliver.export_prep import pdf_page_count

    assert pdf_page_count(pdf) == 2
