"""Speed and memory benchmarks of fedlib (outside the test run). Entry point: ``python benchmarks/run.py``."""
