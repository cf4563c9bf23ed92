"""The polymerisation reactor: parameters, balances, steady states, heat curves.

Free-radical solution polymerisation of one monomer in a jacketed continuous
stirred-tank reactor (CSTR). Five states, two inputs:

=====  ==========================  ========
index  state                       unit
=====  ==========================  ========
0      monomer concentration A     kg/m3
1      initiator concentration I   kg/m3
2      radical concentration R     mol/m3
3      polymer concentration P     kg/m3
4      reactor temperature T       K
=====  ==========================  ========

=====  ==========================  ========
index  input                       unit
=====  ==========================  ========
0      initiator feed u_I          kg/h
1      coolant (jacket) temp. T_c  K
=====  ==========================  ========

Chapter 1 of the book derives every balance below with its units.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import brentq

from cstr.plant import portable_math

STATE_NAMES = ("monomer", "initiator", "radicals", "polymer", "temperature")
"""The five states, in the order of every state vector."""
STATE_UNITS = ("kg/m3", "kg/m3", "mol/m3", "kg/m3", "K")
"""Their units."""
INPUT_NAMES = ("initiator_feed", "coolant_temperature")
"""The two inputs, in the order of every action."""
INPUT_UNITS = ("kg/h", "K")
"""Their units."""

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class ReactorParameters:
    """Every physical constant of the reactor, in SI units unless named otherwise."""

    volume: float = 1.0  # m3
    density: float = 1000.0  # kg/m3, the same for every stream and the contents
    heat_capacity: float = 2000.0  # J/(kg K)
    jacket_ua: float = 500.0  # W/K, overall heat-transfer coefficient times area
    heat_of_propagation: float = 100e3  # J/mol of monomer converted, released
    feed_temperature: float = 350.0  # K
    monomer_feed: float = 100.0  # kg/h
    solvent_feed: float = 80.0  # kg/h
    monomer_molar_mass: float = 0.100  # kg/mol
    initiator_molar_mass: float = 0.165  # kg/mol
    gas_constant: float = 8.314  # J/(mol K)
    # Arrhenius pre-exponential factors and activation energies
    decomposition_prefactor: float = 1e9  # 1/s
    decomposition_activation: float = 125e3  # J/mol
    propagation_prefactor: float = 4e4  # m3/(mol s)
    propagation_activation: float = 25e3  # J/mol
    termination_prefactor: float = 1e6  # m3/(mol s)
    termination_activation: float = 15e3  # J/mol
    # Bounds of the two inputs
    initiator_feed_bounds: tuple[float, float] = (0.0, 2.5)  # kg/h
    coolant_temperature_bounds: tuple[float, float] = (300.0, 350.0)  # K

    def as_array(self) -> np.ndarray:
        """The constants the right-hand side needs, packed for compiled code."""
        return np.array(
            [
                self.volume,
                self.density,
                self.heat_capacity,
                self.jacket_ua,
                self.heat_of_propagation,
                self.feed_temperature,
                self.monomer_feed,
                self.solvent_feed,
                self.monomer_molar_mass,
                self.initiator_molar_mass,
                self.gas_constant,
                self.decomposition_prefactor,
                self.decomposition_activation,
                self.propagation_prefactor,
                self.propagation_activation,
                self.termination_prefactor,
                self.termination_activation,
            ],
            dtype=np.float64,
        )

    def with_changes(self, **changes) -> ReactorParameters:
        return replace(self, **changes)


DEFAULT_PARAMETERS = ReactorParameters()


def volumetric_flow(initiator_feed, params: ReactorParameters = DEFAULT_PARAMETERS):
    """Outlet volumetric flow q [m3/s]: all feeds leave at the common density."""
    mass_flow = np.asarray(initiator_feed) + params.monomer_feed + params.solvent_feed
    return mass_flow / params.density / SECONDS_PER_HOUR


def dilution_rate(initiator_feed, params: ReactorParameters = DEFAULT_PARAMETERS):
    """D = q / V [1/s]."""
    return volumetric_flow(initiator_feed, params) / params.volume


def residence_time(initiator_feed=0.0, params: ReactorParameters = DEFAULT_PARAMETERS):
    """Mean residence time V / q [s]."""
    return 1.0 / dilution_rate(initiator_feed, params)


def rate_constants(temperature, params: ReactorParameters = DEFAULT_PARAMETERS):
    """Arrhenius rate constants (k_d [1/s], k_p [m3/(mol s)], k_t [m3/(mol s)])."""
    inv_rt = 1.0 / (params.gas_constant * np.asarray(temperature, dtype=float))
    k_d = params.decomposition_prefactor * portable_math.exp(-params.decomposition_activation * inv_rt)
    k_p = params.propagation_prefactor * portable_math.exp(-params.propagation_activation * inv_rt)
    k_t = params.termination_prefactor * portable_math.exp(-params.termination_activation * inv_rt)
    return k_d, k_p, k_t


def rhs(state, inputs, params: ReactorParameters = DEFAULT_PARAMETERS) -> np.ndarray:
    """Time derivative of the state [unit/s]; broadcasts over leading batch axes.

    ``state[..., 5]`` in the units of :data:`STATE_UNITS`, ``inputs[..., 2]``
    in those of :data:`INPUT_UNITS`.
    """
    state = np.asarray(state, dtype=float)
    inputs = np.asarray(inputs, dtype=float)
    monomer, initiator, radicals, polymer, temperature = np.moveaxis(state, -1, 0)
    initiator_feed, coolant_temperature = np.moveaxis(inputs, -1, 0)
    k_d, k_p, k_t = rate_constants(temperature, params)
    dilution = dilution_rate(initiator_feed, params)
    # Mass of monomer turned into polymer per volume and time [kg/(m3 s)]: the
    # same term leaves the monomer balance and enters the polymer balance, so
    # monomer + polymer mass is conserved apart from the through-flow.
    propagation = k_p * monomer * radicals
    seconds_volume = SECONDS_PER_HOUR * params.volume
    d_monomer = params.monomer_feed / seconds_volume - dilution * monomer - propagation
    d_initiator = initiator_feed / seconds_volume - (dilution + k_d) * initiator
    d_radicals = 2.0 * k_d * initiator / params.initiator_molar_mass - 2.0 * k_t * radicals**2 - dilution * radicals
    d_polymer = propagation - dilution * polymer
    heat_inertia = params.density * params.heat_capacity * params.volume
    heat_released = params.heat_of_propagation * propagation / params.monomer_molar_mass * params.volume
    heat_to_jacket = params.jacket_ua * (temperature - coolant_temperature)
    heat_to_flow = (
        params.density * params.heat_capacity * dilution * params.volume * (temperature - params.feed_temperature)
    )
    d_temperature = (heat_released - heat_to_jacket - heat_to_flow) / heat_inertia
    return np.stack([d_monomer, d_initiator, d_radicals, d_polymer, d_temperature], axis=-1)


def jacobian(state, inputs, params: ReactorParameters = DEFAULT_PARAMETERS) -> np.ndarray:
    """Analytic Jacobian d rhs / d state, shape ``[..., 5, 5]``."""
    state = np.asarray(state, dtype=float)
    inputs = np.asarray(inputs, dtype=float)
    monomer, initiator, radicals, polymer, temperature = np.moveaxis(state, -1, 0)
    initiator_feed = inputs[..., 0]
    k_d, k_p, k_t = rate_constants(temperature, params)
    dilution = dilution_rate(initiator_feed, params)
    inv_rt2 = 1.0 / (params.gas_constant * temperature**2)
    dk_d = k_d * params.decomposition_activation * inv_rt2
    dk_p = k_p * params.propagation_activation * inv_rt2
    dk_t = k_t * params.termination_activation * inv_rt2
    heat_inertia = params.density * params.heat_capacity * params.volume
    heat_gain = params.heat_of_propagation / params.monomer_molar_mass * params.volume / heat_inertia
    jac = np.zeros(state.shape + (5,))
    jac[..., 0, 0] = -dilution - k_p * radicals
    jac[..., 0, 2] = -k_p * monomer
    jac[..., 0, 4] = -dk_p * monomer * radicals
    jac[..., 1, 1] = -dilution - k_d
    jac[..., 1, 4] = -dk_d * initiator
    jac[..., 2, 1] = 2.0 * k_d / params.initiator_molar_mass
    jac[..., 2, 2] = -4.0 * k_t * radicals - dilution
    jac[..., 2, 4] = 2.0 * dk_d * initiator / params.initiator_molar_mass - 2.0 * dk_t * radicals**2
    jac[..., 3, 0] = k_p * radicals
    jac[..., 3, 2] = k_p * monomer
    jac[..., 3, 3] = -dilution
    jac[..., 3, 4] = dk_p * monomer * radicals
    jac[..., 4, 0] = heat_gain * k_p * radicals
    jac[..., 4, 2] = heat_gain * k_p * monomer
    jac[..., 4, 4] = (
        heat_gain * dk_p * monomer * radicals
        - (params.jacket_ua + params.density * params.heat_capacity * dilution * params.volume) / heat_inertia
    )
    return jac


def composition_at_temperature(
    temperature, initiator_feed, params: ReactorParameters = DEFAULT_PARAMETERS
) -> np.ndarray:
    """Steady-state composition if the temperature were held at ``temperature``.

    With T fixed the four mass balances decouple and solve in closed form:
    initiator from a linear balance, radicals from the positive root of a
    quadratic, monomer and polymer from linear balances. Returns ``[..., 5]``.
    """
    temperature = np.asarray(temperature, dtype=float)
    initiator_feed = np.asarray(initiator_feed, dtype=float)
    k_d, k_p, k_t = rate_constants(temperature, params)
    dilution = dilution_rate(initiator_feed, params)
    seconds_volume = SECONDS_PER_HOUR * params.volume
    initiator = initiator_feed / seconds_volume / (dilution + k_d)
    generation = 2.0 * k_d * initiator / params.initiator_molar_mass
    # 2 k_t R^2 + D R - generation = 0, written to avoid cancellation
    radicals = 2.0 * generation / (dilution + np.sqrt(dilution**2 + 8.0 * k_t * generation))
    monomer = params.monomer_feed / seconds_volume / (dilution + k_p * radicals)
    polymer = k_p * monomer * radicals / dilution
    return np.stack(np.broadcast_arrays(monomer, initiator, radicals, polymer, temperature), axis=-1)


def heat_generation(temperature, initiator_feed, params: ReactorParameters = DEFAULT_PARAMETERS):
    """Heat released by propagation [W] at the steady composition for temperature T."""
    composition = composition_at_temperature(temperature, initiator_feed, params)
    k_p = rate_constants(temperature, params)[1]
    propagation = k_p * composition[..., 0] * composition[..., 2]
    return params.heat_of_propagation * propagation / params.monomer_molar_mass * params.volume


def heat_removal(temperature, initiator_feed, coolant_temperature, params: ReactorParameters = DEFAULT_PARAMETERS):
    """Heat carried away by the jacket and by the through-flow [W] at temperature T."""
    temperature = np.asarray(temperature, dtype=float)
    flow_heat = params.density * params.heat_capacity * volumetric_flow(initiator_feed, params)
    return params.jacket_ua * (temperature - coolant_temperature) + flow_heat * (temperature - params.feed_temperature)


def steady_states(
    initiator_feed: float,
    coolant_temperature: float,
    params: ReactorParameters = DEFAULT_PARAMETERS,
    temperature_range: tuple[float, float] = (280.0, 700.0),
    grid_points: int = 2000,
) -> list[np.ndarray]:
    """Every steady state for constant inputs, sorted by temperature.

    A steady state is a temperature where heat generation equals heat removal
    (with the composition that temperature implies). The balance is scanned
    on a fine grid and each sign change refined with Brent's method, so
    multiple steady states are all found.
    """

    def balance(temperature):
        return heat_generation(temperature, initiator_feed, params) - heat_removal(
            temperature, initiator_feed, coolant_temperature, params
        )

    grid = np.linspace(*temperature_range, grid_points)
    values = balance(grid)
    roots = []
    for left, right, f_left, f_right in zip(grid[:-1], grid[1:], values[:-1], values[1:]):
        if f_left == 0.0:
            roots.append(left)
        elif f_left * f_right < 0.0:
            roots.append(brentq(balance, left, right, xtol=1e-12, rtol=1e-14))
    return [composition_at_temperature(root, initiator_feed, params) for root in roots]


def is_stable(state, inputs, params: ReactorParameters = DEFAULT_PARAMETERS) -> bool:
    """Local asymptotic stability: every Jacobian eigenvalue has negative real part."""
    return bool(np.all(np.linalg.eigvals(jacobian(state, inputs, params)).real < 0.0))


def inputs_for_grade(polymer: float, temperature: float, params: ReactorParameters = DEFAULT_PARAMETERS) -> np.ndarray:
    """Steady inputs (u_I, T_c) that hold the reactor at polymer P and temperature T.

    At fixed T the polymer concentration rises monotonically with the initiator
    feed, so u_I follows from a scalar root; T_c then closes the energy balance.
    """
    low, high = 1e-9, 50.0

    def polymer_gap(feed):
        return composition_at_temperature(temperature, feed, params)[3] - polymer

    if polymer_gap(low) > 0 or polymer_gap(high) < 0:
        raise ValueError(f"no initiator feed in [{low}, {high}] kg/h gives polymer {polymer} kg/m3 at {temperature} K")
    feed = brentq(polymer_gap, low, high, xtol=1e-14, rtol=1e-14)
    generated = heat_generation(temperature, feed, params)
    flow_heat = params.density * params.heat_capacity * volumetric_flow(feed, params)
    coolant = temperature - (generated - flow_heat * (temperature - params.feed_temperature)) / params.jacket_ua
    return np.array([feed, coolant])
