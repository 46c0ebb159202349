"""Data: the 2-D toy, MNIST (IDX files), CelebA, and procedural faces."""
