"""Fixtures shared by the test files."""

import matplotlib

matplotlib.use("Agg")  # figures are checked as objects and files, never shown

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from gbc_teach.datasets import mnist as gdata  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    """Every test starts and ends with no open pyplot figure."""
    plt.close("all")
    yield
    plt.close("all")


@pytest.fixture
def no_mnist(tmp_path, monkeypatch):
    """No MNIST configured anywhere (the flagged sklearn fallback); caches in tmp_path."""
    monkeypatch.setattr(gdata, "_repo_data_dirs", lambda: [tmp_path / "nothing"])
    monkeypatch.delenv("GBC_DATA_DIR", raising=False)
    monkeypatch.setenv("GBC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path
