"""georeason.training."""
