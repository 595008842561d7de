"""The fleet: its typed spec, reading and editing its YAML files, and the checks on them; the
bundled models' published architectures (architectures/: parameters and FLOPs in closed form).

The bottom layer. Imports nothing else of modalfleet (no generate, economics, platform, report
or cli), and never modal or torch.
"""
