"""Scoring denoisers on a corruption suite: for each corruption, classifier M's accuracy on the corrupted
digits and after the denoiser, PSNR and SSIM against the clean digits (where the digit stays in place),
and, on the same images, the best classical denoiser (tuned on validation digits) and M trained with
noisy copies. What ``python -m dae.corruptions`` writes into a job's ``corruptions/``.

The references (M on the raw digits, M with noisy copies, the classical denoisers) do not depend on the
denoiser: they are computed once per suite and cached beside it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dae import figures
from dae.classical import run_method, tune, zero_threshold
from dae.files import write_csv, write_json, write_text
from dae.metrics import image_quality
from dae.scoring.classifier import predict
from dae.suites.cache import SuiteImages

log = logging.getLogger(__name__)

CLEAN = "clean"  # the row of the clean digits: what "do no harm" is judged on
HARM_FLOOR = 0.97  # where M reads the raw digits at least this well, a denoiser must not cost it...
HARM_POINTS = 0.3  # ...more than this many points
COLUMNS = (
    "corruption",
    "moves",
    "acc_corrupted",
    "acc_denoised",
    "change",
    "harm",
    "psnr_corrupted",
    "psnr",
    "ssim",
    "classical",
    "acc_classical",
    "psnr_classical",
    "acc_augmented",
)


@dataclass
class Judges:
    """Classifier M, M trained with noisy copies (or None), and the padding that makes a 28 x 28 digit M's input."""

    classifier: torch.nn.Module
    augmented: torch.nn.Module | None
    padding: int

    def accuracy(self, net: torch.nn.Module, digits: torch.Tensor, labels: np.ndarray) -> float:
        return float((predict(net, F.pad(digits, (self.padding,) * 4)) == labels).mean())


@dataclass
class ClassicalSettings:
    """The classical denoisers tried on each corruption (``method: {parameter: [values]}``), the
    zero-threshold values tuned with them, and the worker processes."""

    methods: dict = field(default_factory=dict)
    thresholds: list = field(default_factory=list)
    workers: int = 2


def _quality(denoised: torch.Tensor, corrupted: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
    return image_quality(denoised, corrupted, clean, crop=0)  # digits: no padding to leave out


def best_classical(corrupted_val: torch.Tensor, clean_val: torch.Tensor, settings: ClassicalSettings) -> dict | None:
    """The classical method, parameters and zero threshold with the best validation PSNR."""
    best = None
    for method, values in settings.methods.items():
        found = tune(
            method, dict(values or {}), settings.thresholds, corrupted_val[:, 0].numpy(), clean_val[:, 0].numpy(), 0, settings.workers
        )
        params, threshold, val_psnr = found["threshold"]
        if best is None or val_psnr > best["val_psnr"]:
            best = {"method": method, "params": params, "threshold": threshold, "val_psnr": val_psnr}
    return best


def references(images: SuiteImages, judges: Judges, settings: ClassicalSettings, cache_dir: Path | None = None, key: str = "") -> dict:
    """Per corruption (and the clean digits): M's accuracy on the raw digits, M with noisy copies, and the
    best classical denoiser's figures; from ``cache_dir`` when computed before with the same ``key``."""
    path = cache_dir / f"references-{key}.json" if cache_dir is not None else None
    if path is not None and path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("names") == [CLEAN, *images.names]:
            log.info("corruption references: loaded %s", path)
            return cached["rows"]
    rows = {}
    labels, clean = images.labels["test"], images.clean["test"]
    for name in [CLEAN, *images.names]:
        start = time.perf_counter()
        corrupted = clean if name == CLEAN else images.corrupted["test"][name]
        row = {"acc_corrupted": judges.accuracy(judges.classifier, corrupted, labels)}
        if judges.augmented is not None:
            row["acc_augmented"] = judges.accuracy(judges.augmented, corrupted, labels)
        moves = name in images.suite.moving
        if name != CLEAN and not moves and settings.methods:  # a digit moved is not repaired pixel by pixel
            best = best_classical(images.corrupted["val"][name], images.clean["val"], settings)
            out, _ = run_method(best["method"], best["params"], corrupted[:, 0].numpy(), settings.workers)
            denoised = torch.from_numpy(zero_threshold(out, best["threshold"])).unsqueeze(1)
            row.update(
                classical=f"{best['method']} {json.dumps(best['params'])} t={best['threshold']:g}",
                acc_classical=judges.accuracy(judges.classifier, denoised, labels),
                psnr_classical=_quality(denoised, corrupted, clean)["psnr"],
            )
        rows[name] = row
        log.info("references, %s: %s (%.0f s)", name, ", ".join(f"{k} {v}" for k, v in row.items()), time.perf_counter() - start)
    if path is not None:
        write_json(path, {"names": [CLEAN, *images.names], "rows": rows})
    return rows


def references_key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def change_in_points(before: float, after: float) -> float:
    """``after - before`` in points of accuracy, rounded to 1e-6 so that a cost of exactly ``HARM_POINTS``
    (30 of 10,000 digits) is not taken for more by the floats' rounding (0.9730 - 0.9760 is -0.30000000000000027)."""
    return round(100 * (after - before), 6)


def harms(before: float, after: float) -> bool:
    """Whether a denoiser that takes M's accuracy from ``before`` to ``after`` does harm: a cost of more than
    ``HARM_POINTS`` where M reads the raw digits at ``HARM_FLOOR`` or better."""
    return before >= HARM_FLOOR and change_in_points(before, after) < -HARM_POINTS


def score(denoise, images: SuiteImages, judges: Judges, refs: dict) -> list[dict]:
    """One row per corruption (the clean digits first) for ``denoise``, a function from ``(N, 1, 28, 28)``
    [0, 1] digits to denoised digits (a :class:`dae.loading.TrainedDenoiser`'s ``denoise_batch``)."""
    labels, clean = images.labels["test"], images.clean["test"]
    rows = []
    for name in [CLEAN, *images.names]:
        corrupted = clean if name == CLEAN else images.corrupted["test"][name]
        denoised = denoise(corrupted)
        moves = name in images.suite.moving
        row = {"corruption": name, "moves": moves, **refs[name]}
        row["acc_denoised"] = judges.accuracy(judges.classifier, denoised, labels)
        row["change"] = change_in_points(row["acc_corrupted"], row["acc_denoised"])
        row["harm"] = harms(row["acc_corrupted"], row["acc_denoised"])
        if not moves:
            quality = _quality(denoised, corrupted, clean)
            row.update(psnr_corrupted=quality["noisy_psnr"], psnr=quality["psnr"], ssim=quality["ssim"])
        rows.append(row)
    return rows


def headline(rows: list[dict]) -> dict:
    """Mean corruption accuracy over the suite (the clean digits left out) for each reader, the worst
    corruption after the denoiser, and what the denoiser costs where M reads the raw digits well."""
    suite = [r for r in rows if r["corruption"] != CLEAN]
    mean = {}
    for key in ("acc_corrupted", "acc_denoised", "acc_classical", "acc_augmented"):
        # where no classical denoiser applies (the digit moved), the classical pipeline reads the raw digit
        values = [r.get(key, r["acc_corrupted"] if key == "acc_classical" else math.nan) for r in suite]
        mean[key] = float(np.mean(values))
    worst = min(suite, key=lambda r: r["acc_denoised"])
    in_place = [r for r in suite if not r["moves"]]
    clean = next(r for r in rows if r["corruption"] == CLEAN)
    return {
        "mean": mean,
        "worst": {"corruption": worst["corruption"], "acc_denoised": worst["acc_denoised"]},
        "min_in_place": min((r["acc_denoised"] for r in in_place), default=math.nan),
        "clean_change": clean["change"],
        "harmed": [r["corruption"] for r in rows if r["harm"]],
    }


def _cell(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def to_markdown(rows: list[dict], summary: dict, title: str, suite: str, seconds: float | None = None) -> str:
    m = summary["mean"]
    lines = [
        f"# {title}: corruption suite {suite}",
        "",
        f"Mean corruption accuracy of classifier M over the {len(rows) - 1} corruptions: **{m['acc_denoised']:.4f}** after the denoiser, "
        f"{m['acc_corrupted']:.4f} on the corrupted digits, {m['acc_classical']:.4f} after the best classical denoiser, "
        + (f"{m['acc_augmented']:.4f} for M trained with noisy copies. " if not math.isnan(m["acc_augmented"]) else "")
        + f"Worst corruption after the denoiser: {summary['worst']['corruption']} ({summary['worst']['acc_denoised']:.4f}).",
        "",
        f"`change`: points of M's accuracy the denoiser adds (negative: it costs); `harm`: a cost of more than {HARM_POINTS} points "
        f"where M reads the raw digits at {HARM_FLOOR} or better. PSNR and SSIM against the clean digit, over the 28 x 28 digit; "
        "none for shear, scale, rotate and translate, which move the digit, so that no pixel-wise comparison with the clean digit "
        "means anything. `classical`: the classical denoiser with the best validation PSNR (parameters and zero threshold tuned on "
        "validation digits), `M aug`: M trained with a noisy copy of each training image, on the corrupted digits.",
        "",
        "| corruption | M corrupted | M denoised | change | harm | PSNR corrupted | PSNR | SSIM | classical | M classical | PSNR classical | M aug |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['corruption']} | {r['acc_corrupted']:.4f} | {r['acc_denoised']:.4f} | {r['change']:+.2f} | {'yes' if r['harm'] else ''} | "
            f"{_cell(r.get('psnr_corrupted'), 2)} | {_cell(r.get('psnr'), 2)} | {_cell(r.get('ssim'))} | {r.get('classical', '-')} | "
            f"{_cell(r.get('acc_classical'))} | {_cell(r.get('psnr_classical'), 2)} | {_cell(r.get('acc_augmented'))} |"
        )
    if seconds is not None:
        lines += ["", f"Scored in {seconds:.0f} s (the denoiser and M on every corruption; references cached)."]
    return "\n".join(lines) + "\n"


def examples_figure(images: SuiteImages, denoise, path: Path, title: str, index: int = 0):
    """One column per corruption (the clean digits first): a clean test digit, its corrupted copy and, with
    ``denoise``, the denoised copy; each column its own digit."""
    import matplotlib.pyplot as plt

    names = [CLEAN, *images.names]
    rows = 3 if denoise is not None else 2
    fig, axes = plt.subplots(rows, len(names), figsize=(0.9 * len(names), 1.0 * rows + 0.5), squeeze=False)
    for j, name in enumerate(names):
        i = index + j
        clean = images.clean["test"][i : i + 1]
        corrupted = clean if name == CLEAN else images.corrupted["test"][name][i : i + 1]
        shown = [clean, corrupted] + ([denoise(corrupted)] if denoise is not None else [])
        for row, image in enumerate(shown):
            axes[row, j].imshow(image[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            axes[row, j].set_xticks([])
            axes[row, j].set_yticks([])
        axes[0, j].set_title(name.replace("_", " "), fontsize=6)
    for row, label in enumerate(["clean", "corrupted", "denoised"][:rows]):
        axes[row, 0].set_ylabel(label, fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return figures.save(fig, path)


def write(rows: list[dict], summary: dict, out: Path, title: str, suite: str, seconds: float | None, writer=None) -> str:
    """``corruptions.md``, ``.csv`` and ``.json`` into ``out``; the table to TensorBoard's TEXT tab through ``writer``."""
    text = to_markdown(rows, summary, title, suite, seconds)
    write_csv(out / "corruptions.csv", rows, COLUMNS)
    write_json(out / "corruptions.json", {"suite": suite, "summary": summary, "seconds": seconds, "rows": rows})
    write_text(out / "corruptions.md", text)
    if writer is not None:
        writer.add_text(f"corruptions/{suite}", text)
    return text
