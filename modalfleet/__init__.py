"""modalfleet: declare generative models once, pick a GPU per strategy, render Modal handlers."""

__version__ = "0.1.0"
