"""georeason.rewards."""
