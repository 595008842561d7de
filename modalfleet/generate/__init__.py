"""Rendering the fleet into Modal handler modules (Jinja templates -> generated/).

May import modalfleet.fleet (and report); never economics, platform or cli, never modal or torch.
"""
