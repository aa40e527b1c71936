"""Compare the jobs of a sweep: ``python -m dae.report <sweep folder>``.

Reads every job folder of the sweep (its overrides, ``metrics.json``, ``classifier_report.json``,
``probe/report.json`` if the probe ran, and its TensorBoard scalars) and writes into the sweep
folder ``report.md`` and ``report.csv`` (one row per job), ``loss_curves.png`` (validation loss
per epoch, one line per job) and ``reconstructions.png`` (one column per digit: the originals,
the noisy inputs, then one row of reconstructions per job). A job that failed is listed as
failed, with the first line of its error; one whose files cannot be read as unreadable, naming the file.
Where the sweep is a grid of overrides (not a search such as Optuna's), a job of it whose folder is gone
is listed as missing, and the report says how many jobs the sweep had.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from dae.cli import one_line_errors
from dae.reporting import missing_summary, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dae.report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep", help="a sweep folder, e.g. outputs/multirun/<time>")
    parser.add_argument("--out", help="the folder for the report files (default: the sweep folder)")
    parser.add_argument("--verbose", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("tensorboard").setLevel(logging.WARNING)  # its event reader logs every file it opens
    if args.verbose:
        os.environ["HYDRA_FULL_ERROR"] = "1"  # what dae.cli reads, as for the Hydra commands
    with one_line_errors():
        rows = report(args.sweep, args.out)
    written = Path(args.out or args.sweep).expanduser().resolve() / "report.md"
    print(written.read_text())
    print(f"report written to {written} (and report.csv and the figures beside it)")
    for status in ("failed", "unreadable"):
        jobs = [r["job"] for r in rows if r["status"] == status]
        if jobs:
            print(f"{len(jobs)} of {len(rows)} jobs {status}: {', '.join(jobs)}", file=sys.stderr)
    missing = missing_summary(rows, Path(args.sweep).expanduser().resolve())
    if missing:
        print(missing, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
