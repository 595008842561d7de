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
    strategy = fleet.strategies[strategy_name]
    deployments = []
    for model in fleet.models.values():
        gpus = tuple(fleet.catalog.modal_name(name) for name in model.gpu[strategy_name])
        deployments.append(
            Deployment(
                model=model,
                strategy=strategy,
                gpus=gpus,
                containers=strategy.containers.merged(model.containers),
            )
        )
    return deployments
