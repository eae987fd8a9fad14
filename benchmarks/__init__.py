"""Speed measurements of the course (``python -m benchmarks.bench``)."""
