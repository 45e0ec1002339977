"""Benchmarks (``make bench``): every figure is reported next to a baseline measured in the same run."""
