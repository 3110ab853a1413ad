"""models: networks built from mytorch layers (the MLPs in models.mlp)."""
