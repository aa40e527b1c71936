"""How much the SVM probe's own settings matter: C and gamma on a subset of a job's latents.

    python experiments/evaluation/svm_settings.py <job folder> [n_train] [C,C,...] [g,g,...]

Encodes the probe's noisy training and test images with the job's encoder (as dae.probe does),
standardises (statistics of all training vectors), and prints the test accuracy of an RBF SVM for each C and gamma = g / latent size
(g = 1 is scikit-learn's 'scale' on standardised vectors). Defaults: 20,000 training vectors,
C in 1,10,100, g in 0.5,1,2.
"""

import sys
import time

from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from dae.jobs import build_datamodule, load_job, load_model
from dae.probe import ProbeSettings, encode, probe_inputs


def main(folder: str, n_train: int = 20000, cs: str = "1,10,100", gs: str = "0.5,1,2") -> None:
    job = load_job(folder)
    module, dm = load_model(job), build_datamodule(job)
    train_x, train_y, test_x, test_y = probe_inputs(dm, ProbeSettings())
    z_train, z_test = encode(module, train_x, 1000), encode(module, test_x, 1000)
    scaler = StandardScaler().fit(z_train)  # on all 60,000, as the probe does; the SVM sees the first n_train
    z_train, z_test = scaler.transform(z_train[:n_train]), scaler.transform(z_test)
    for c in (float(v) for v in cs.split(",")):
        for g in (float(v) for v in gs.split(",")):
            start = time.perf_counter()
            accuracy = SVC(C=c, gamma=g / z_train.shape[1], cache_size=1000).fit(z_train, train_y[:n_train]).score(z_test, test_y)
            print(f"C={c:g} gamma={g:g}/{z_train.shape[1]}: accuracy {accuracy:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) if i == 0 else a for i, a in enumerate(sys.argv[2:])))
