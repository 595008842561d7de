"""Money and serving: the cost model, the optimizer, plan (what a change costs) and the chart.

May import modalfleet.fleet and modalfleet.report; never generate, platform or cli, never modal
or torch.
"""
