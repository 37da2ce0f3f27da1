"""georeason.models."""
