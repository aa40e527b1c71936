"""Judging denoisers: classifier M (classifier.py), the SVM probe of the latent space (probe.py), and
scores of a denoiser on a set of images (denoiser.py). The commands and callbacks share these."""
