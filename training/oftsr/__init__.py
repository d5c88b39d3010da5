"""OFTSR: a noise-augmented conditional rectified-flow teacher and its one-step, t-tunable student."""
