"""Data sets of the course: the 2-D toy, MNIST, CelebA and the procedurally drawn faces."""
