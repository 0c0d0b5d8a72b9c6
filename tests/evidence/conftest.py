"""Evidence tests store their files in a folder of their own."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path: Path) -> Path:
    """A private upload folder for each test (UPLOAD_DIR)."""
    folder = tmp_path / "uploads"
    app.config["UPLOAD_DIR"] = str(folder)
    return folder
