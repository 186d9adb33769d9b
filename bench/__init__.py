"""Benchmarks: a simulated Docker Engine, a naive baseline exporter, and the runner.

``make bench`` (``python -m bench.run``) measures swarm-sentinel and the baseline
side by side against the same simulated engine and writes docs/benchmarks.md.
"""
