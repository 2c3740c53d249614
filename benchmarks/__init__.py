"""Performance measurements of the broker; each module runs with ``python -m benchmarks.<name>``."""
