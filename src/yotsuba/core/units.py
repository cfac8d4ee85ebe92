"""Units, decibels and physical constants, each constant with its source.

Every function works on scalars and NumPy arrays alike and returns floats or float arrays.
"""

from __future__ import annotations

from typing import TypeVar, overload

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
T = TypeVar("T", float, FloatArray)

# Exact by definition of the SI second and metre (BIPM SI Brochure, 9th ed., 2019).
SPEED_OF_LIGHT_M_PER_S = 299_792_458.0
# Exact since the 2019 SI redefinition (BIPM SI Brochure, 9th ed., 2019).
PLANCK_J_S = 6.626_070_15e-34
BOLTZMANN_J_PER_K = 1.380_649e-23
# Group index of standard single-mode fibre (ITU-T G.652) near 1550 nm, ~1.468 (Corning SMF-28
# product information sheet, PI1424); light travels ~204 km/ms in it.
FIBER_GROUP_INDEX = 1.468
# WGS84 equatorial radius (NIMA TR8350.2, 3rd ed., 2000).
EARTH_RADIUS_EQUATORIAL_KM = 6378.137


@overload
def db_to_linear(db: float) -> float: ...
@overload
def db_to_linear(db: FloatArray) -> FloatArray: ...
def db_to_linear(db: float | FloatArray) -> float | FloatArray:
    """Power ratio of a gain in dB (a loss of 10 dB gives 0.1 when passed as ``-10``).

    >>> db_to_linear(-10.0)
    0.1
    """
    out = np.power(10.0, np.asarray(db, dtype=float) / 10.0)
    return float(out) if np.ndim(out) == 0 else out


@overload
def loss_db_to_transmittance(loss_db: float) -> float: ...
@overload
def loss_db_to_transmittance(loss_db: FloatArray) -> FloatArray: ...
def loss_db_to_transmittance(loss_db: float | FloatArray) -> float | FloatArray:
    """Transmittance (0..1) of a loss given in dB: ``10**(-loss_db/10)``.

    >>> round(loss_db_to_transmittance(3.0), 4)
    0.5012
    """
    out = np.power(10.0, -np.asarray(loss_db, dtype=float) / 10.0)
    return float(out) if np.ndim(out) == 0 else out


@overload
def linear_to_db(ratio: float) -> float: ...
@overload
def linear_to_db(ratio: FloatArray) -> FloatArray: ...
def linear_to_db(ratio: float | FloatArray) -> float | FloatArray:
    """Decibels of a power ratio; ``-inf`` for a ratio of 0.

    >>> linear_to_db(100.0)
    20.0
    """
    with np.errstate(divide="ignore"):
        out = 10.0 * np.log10(np.asarray(ratio, dtype=float))
    return float(out) if np.ndim(out) == 0 else out


def photon_energy_j(wavelength_nm: float) -> float:
    """Energy of one photon, ``h c / lambda``, in joules.

    >>> f"{photon_energy_j(1550.0):.4e}"
    '1.2816e-19'
    """
    return PLANCK_J_S * SPEED_OF_LIGHT_M_PER_S / (wavelength_nm * 1e-9)


def fiber_delay_ms(distance_km: float) -> float:
    """One-way propagation delay of light in standard single-mode fibre, in ms.

    >>> round(fiber_delay_ms(100.0), 4)
    0.4897
    """
    return distance_km * 1e3 * FIBER_GROUP_INDEX / SPEED_OF_LIGHT_M_PER_S * 1e3
