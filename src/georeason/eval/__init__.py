"""georeason.eval."""
