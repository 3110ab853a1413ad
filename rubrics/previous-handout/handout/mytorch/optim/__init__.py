"""mytorch.optim: optimizers (SGD in mytorch.optim.sgd)."""
