"""metrics.json of `gbc-teach toy2d`: the raw margin comes with its scale-free version and notes."""

import json

import pytest

from gbc_teach.cli import main

TINY = ["--fast", "--quiet", "--set", "clf_steps=200", "--set", "gen_steps=10",
        "--set", "naive_steps=5", "--set", "n_eval_samples=30"]


@pytest.fixture(scope="module")
def metrics(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy") / "run"
    assert main(["toy2d", *TINY, "--out", str(out)]) == 0
    return json.loads((out / "metrics.json").read_text())


def test_normalized_margin_is_q_min_without_the_scale(metrics):
    clf = metrics["classifier"]
    lam_max = max(clf["lambda"])
    assert clf["q_min"] > 0 and clf["theta_norm"] > 0
    assert clf["normalized_margin"] == pytest.approx(clf["q_min"] / clf["theta_norm"] ** (1 / lam_max),
                                                     rel=1e-6)
    # a readable number, unlike the raw margin of a net whose scale training let grow
    assert 0 < clf["normalized_margin"] < 10


def test_q_min_ratio(metrics):
    g = metrics["gbc"]
    assert g["q_min_ratio"] == pytest.approx(g["q_min_estimate"] / metrics["classifier"]["q_min"])


def test_notes_name_keys_of_the_file(metrics):
    notes = metrics["notes"]
    assert {"classifier.q_min", "classifier.normalized_margin"} <= set(notes)
    for path, text in notes.items():
        section, key = path.split(".")
        assert key in metrics[section], path
        assert len(text) > 20
