"""Money and serving: the cost model, the optimizer, plan (what a change costs) and the chart;
the FLOPs of one request (flops.py).

May import modalfleet.fleet and modalfleet.report; never generate, platform or cli, never modal
or torch.
"""
