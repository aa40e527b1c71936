"""dae.callbacks.classifier_report: classifier M's report on the test set, written by every training run."""

import json

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import N_TEST

INPUTS = {"clean", "noisy", "denoised", "reconstructed"}


def test_training_writes_the_classifier_report(job):
    report = json.loads((job / "classifier_report.json").read_text())
    assert set(report) == INPUTS
    assert report["clean"]["accuracy"] >= 0.95 and report["noisy"]["accuracy"] < report["clean"]["accuracy"]  # 0.995 and 0.165 seen
    for name in INPUTS:
        assert report[name]["macro avg"]["support"] == N_TEST  # every test image, once
        assert {str(d) for d in range(10)} <= report[name].keys()
        assert {"precision", "recall", "f1-score", "support"} <= report[name]["0"].keys()
        assert {"macro avg", "weighted avg"} <= report[name].keys()
    assert report["clean"]["accuracy"] > 0.5, "M learns the fixture's digits"
    text = (job / "classifier_report.txt").read_text()
    assert all(f"== {name}" in text for name in INPUTS) and "weighted avg" in text

    tags = {"scalars": set(), "tensors": set()}
    for path in job.glob("events.out.tfevents.*"):
        found = EventAccumulator(str(path)).Reload().Tags()
        tags["scalars"] |= set(found["scalars"])
        tags["tensors"] |= set(found["tensors"])
    assert {f"hp/acc_{name}" for name in INPUTS} <= tags["scalars"]
    assert any("classifier_report" in t for t in tags["tensors"])  # the TEXT tab
