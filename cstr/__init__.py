"""cstr: the polymerisation-reactor benchmark of the companion book to Durkin et al. (2025).

``import cstr`` registers the Gymnasium environment ``cstr/PolymerCSTR-v0``.
The package is layered, each layer importing only those below it
(``lint-imports`` checks it; see ``pyproject.toml``)::

    figures        the book's figures (they only draw)
    experiments    registry, evaluation, selection, reproduce, comparison, results, benchmarks
    safety         PICNN cost model, dynamics model, the correction
    agents         behaviour cloning, implicit Q-learning, network helpers, weights
    data           dataset generation, loading, export, verification
    control        PI, NMPC, the episode runner
    envs           the Gymnasium environments
    plant          model, integration, scenarios
    storage, seeds the data folder and its manifest; the seed policy
"""

from cstr.envs import ENV_ID  # importing cstr.envs registers the environment

__version__ = "0.1.0"


def load_controller(name: str, root=None):
    """A shipped controller by name: ``pi``, ``pi-tuned``, ``bc``, ``iql``, ``bc+``, ``iql+``, ``nmpc``,
    ``nmpc-offset-free`` (:mod:`cstr.experiments.registry`).

    Every controller has ``act(obs) -> action`` for one observation ``[6]`` or
    a batch ``[n, 6]``. ``root`` is the data folder (default: the shipped one).
    """
    # Imported here, not at the top: ``import cstr`` (which gym.make needs) must not pay for torch and CasADi.
    from cstr.experiments.registry import load_controller as load

    return load(name, root=root)


def load_cost_model(root=None):
    """The shipped PICNN cost model: ``cost(observations[n, 6], actions[n, 2]) -> [n]``, convex in the actions."""
    from cstr.safety.shipped import load_cost_model as load  # torch: imported on demand, as above

    return load(root)


__all__ = ["ENV_ID", "__version__", "load_controller", "load_cost_model"]
