from mytorch.nn.linear import Linear

__all__ = ["Linear"]
