"""How much the SVM probe's own settings matter: C, gamma, the latents' scaling and the kernel.

    python experiments/evaluation/svm_settings.py <job folder> [n_train] [C,C,...] [g,g,...] [--scaling S,S,...] [--kernel K,K,...]

Encodes the probe's noisy training and test images with the job's encoder (as dae.probe does), scales
the latent vectors (statistics of all training vectors), and prints the test accuracy of an SVM, fitted
on the first n_train training vectors, for each setting; gamma = g / number of features. Defaults: 20,000
training vectors, C in 1,10,100, g in 0.5,1,2, the probe's scaling and kernel.

Scalings: ``standard``, the probe's (each dimension to zero mean and unit variance); ``l2``, standardised,
then each vector to length sqrt(latent size) (the RBF kernel then reads only angles); ``raw``, the
latents as the encoder gives them, divided by one number, their overall spread; ``raw_l2``, raw vectors
to length sqrt(latent size); ``whiten``, PCA-whitened (decorrelated, unit variance per component);
``pca<k>`` (``pca64``...), standardised, then its first k principal components, divided by their overall
spread (gamma is then g / k). At these scales g = 1 is scikit-learn's ``gamma='scale'`` (up to rounding
for ``l2`` and ``whiten``).
Kernels: ``rbf`` (the probe's), ``poly2`` and ``poly3`` (polynomial of degree 2 or 3, coef0 = 1).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler, normalize
from sklearn.svm import SVC

from dae.jobs import load_job
from dae.loading import build_datamodule, load_model
from dae.scoring.probe import ProbeSettings, encode, probe_inputs

SCALINGS = ("standard", "l2", "raw", "raw_l2", "whiten")  # and pca<k>
KERNELS = {
    "rbf": {"kernel": "rbf"},
    "poly2": {"kernel": "poly", "degree": 2, "coef0": 1.0},
    "poly3": {"kernel": "poly", "degree": 3, "coef0": 1.0},
}


def scaled(z_train: np.ndarray, z_test: np.ndarray, scaling: str) -> tuple[np.ndarray, np.ndarray]:
    """Both sets scaled with statistics of the training vectors only."""
    if scaling in ("standard", "l2") or scaling.startswith("pca"):
        scaler = StandardScaler().fit(z_train)
        z_train, z_test = scaler.transform(z_train), scaler.transform(z_test)
    if scaling == "standard":
        return z_train, z_test
    if scaling in ("l2", "raw_l2"):
        root_d = np.sqrt(z_train.shape[1])
        return normalize(z_train) * root_d, normalize(z_test) * root_d
    if scaling == "whiten":
        pca = PCA(whiten=True).fit(z_train)
        return pca.transform(z_train), pca.transform(z_test)
    if scaling.startswith("pca"):
        pca = PCA(int(scaling[3:])).fit(z_train)
        z_train, z_test = pca.transform(z_train), pca.transform(z_test)
    spread = z_train.std()  # raw and pca<k>: one overall scale, so that g = 1 is 'scale'
    return z_train / spread, z_test / spread


def run(folder: str, n_train: int, cs: str, gs: str, scalings: str, kernels: str) -> None:
    for scaling in scalings.split(","):
        if scaling not in SCALINGS and not (scaling.startswith("pca") and scaling[3:].isdigit() and int(scaling[3:]) >= 1):
            raise SystemExit(f"--scaling {scaling}: expected one or more of {', '.join(SCALINGS)} or pca<k> (pca64), separated by commas.")
    for kernel in kernels.split(","):
        if kernel not in KERNELS:
            raise SystemExit(f"--kernel {kernel}: expected one or more of {', '.join(KERNELS)}, separated by commas.")
    job = load_job(folder)
    module, dm = load_model(job), build_datamodule(job)
    train_x, train_y, test_x, test_y = probe_inputs(dm, ProbeSettings())
    z_train_all, z_test_all = encode(module, train_x, None), encode(module, test_x, None)
    for scaling in scalings.split(","):
        z_train, z_test = scaled(z_train_all, z_test_all, scaling)  # on all 60,000, as the probe does; the SVM sees the first n_train
        z_train = z_train[:n_train]
        for kernel in kernels.split(","):
            for c in (float(v) for v in cs.split(",")):
                for g in (float(v) for v in gs.split(",")):
                    start = time.perf_counter()
                    svm = SVC(C=c, gamma=g / z_train.shape[1], cache_size=1000, **KERNELS[kernel])
                    accuracy = svm.fit(z_train, train_y[:n_train]).score(z_test, test_y)
                    print(
                        f"{scaling} {kernel} C={c:g} gamma={g:g}/{z_train.shape[1]}: accuracy {accuracy:.4f} ({time.perf_counter() - start:.0f} s)",
                        flush=True,
                    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="a job folder")
    parser.add_argument("n_train", nargs="?", type=int, default=20000, help="training vectors the SVM sees (default 20000)")
    parser.add_argument("cs", nargs="?", default="1,10,100", help="values of C, separated by commas")
    parser.add_argument(
        "gs",
        nargs="?",
        default="0.5,1,2",
        help="gamma as multiples of 1 / number of features (the latent size; k for pca<k>), separated by commas",
    )
    parser.add_argument("--scaling", default="standard", help=f"one or more of {', '.join(SCALINGS)} or pca<k>")
    parser.add_argument("--kernel", default="rbf", help=f"one or more of {', '.join(KERNELS)}")
    args = parser.parse_args(argv)
    run(args.folder, args.n_train, args.cs, args.gs, args.scaling, args.kernel)


if __name__ == "__main__":
    main()
