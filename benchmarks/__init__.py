"""Benchmarks: each bench_<topic>.py prints its figures; `python -m benchmarks` runs them all."""
