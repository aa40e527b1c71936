"""What each process of tests/test_job_folder.py's race runs. A module of its own: a spawned process imports the
module its target lives in, and this one imports only dae.job_folder (no torch, no Lightning)."""

import time

from dae.job_folder import claim_run


def claim(folder: str, start, results) -> None:
    start.wait()
    try:
        claim_run(folder)
        results.put("claimed")
        time.sleep(1)  # hold it while the others try
    except ValueError as e:
        results.put(str(e))
