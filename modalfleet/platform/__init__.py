"""Everything that talks to Modal: deploy, status, bench, spend, billing.

The only folder (besides runtime/, which runs inside the containers) that imports modal, and only
lazily. May import fleet, generate, economics and report; never cli.
"""
