"""Algorithms in pure PyTorch: no verl import anywhere below this package."""
