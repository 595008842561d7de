"""Output helpers any layer may use: text and markdown tables, and the money formatter.

Imports nothing of modalfleet.
"""
