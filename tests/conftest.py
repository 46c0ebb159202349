"""Fixtures shared by the test files."""

import pytest

from gbc_teach.datasets import mnist as gdata


@pytest.fixture
def no_mnist(tmp_path, monkeypatch):
    """No MNIST configured anywhere (the flagged sklearn fallback); caches in tmp_path."""
    monkeypatch.setattr(gdata, "_repo_data_dirs", lambda: [tmp_path / "nothing"])
    monkeypatch.delenv("GBC_DATA_DIR", raising=False)
    monkeypatch.setenv("GBC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path
