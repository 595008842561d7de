"""Runtime tests: generated handlers running on tiny random weights (pytest -m runtime)."""
