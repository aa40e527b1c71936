"""dae.callbacks.svm_probe: the SVM probe after testing, in the training run (callbacks=with_probe)."""

import json

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def test_probe_callback_reports_during_training(job):
    saved = json.loads((job / "probe" / "report.json").read_text())
    assert saved["accuracy"] > 0.15 and saved["n_train"] == 300  # above chance (0.1): 0.235 seen after one epoch
    assert saved["settings"]["n_train"] == 300 and saved["settings"]["n_embed"] == 100  # what a later probe of the job is checked against
    scalars = set()
    for path in job.glob("events.out.tfevents.*"):
        scalars |= set(EventAccumulator(str(path)).Reload().Tags()["scalars"])
    assert "hp/probe_acc" in scalars
