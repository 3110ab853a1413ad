"""mytorch.models: networks built from mytorch layers (the MLPs in mytorch.models.mlp)."""
