"""A strategy applied to the fleet: one Deployment per model."""

from __future__ import annotations

from .spec import Deployment, Fleet


class UnknownStrategy(KeyError):
    pass


def resolve(fleet: Fleet, strategy_name: str) -> list[Deployment]:
    """Deployments of every model under strategy_name, in models.yaml order.

    Assumes a validated fleet (every model covers every strategy; GPU names are known).
    """
    if strategy_name not in fleet.strategies:
        raise UnknownStrategy(strategy_name)
    return [deployment(fleet, strategy_name, name) for name in fleet.models]


def deployment(fleet: Fleet, strategy_name: str, model_name: str) -> Deployment:
    """One model under one strategy: its GPUs and its container policy, the model's own
    `containers:` overriding the strategy's key by key, and the strategy's `models:` entry for
    the model overriding both (Strategy.policy_for). Same assumptions as resolve()."""
    if strategy_name not in fleet.strategies:
        raise UnknownStrategy(strategy_name)
    strategy = fleet.strategies[strategy_name]
    model = fleet.models[model_name]
    return Deployment(
        model=model,
        strategy=strategy,
        gpus=tuple(fleet.catalog.modal_name(name) for name in model.gpu[strategy_name]),
        containers=strategy.policy_for(model),
    )
