"""Judging samples: points (toy), images (recovery, SSIM, Fréchet), evaluators."""
