"""The tumour-growth PK-PD model of Geng et al. (2017) as used by RMSN, CRN and Causal Transformer.

Volumes are in cm^3, diameters in cm, one step is one day. A patient's next volume is

    V[t+1] = V[t] (1 + rho log(K / V[t]) - beta_c C[t] - (alpha d[t] + beta d[t]^2) + eps[t+1])

with chemotherapy concentration C[t] = C[t-1] / 2 + 5 chemo[t] (half-life one day), radiotherapy
dose d[t] = 2 Gy radio[t] and eps ~ N(0, 0.01^2). Sources are cited in datasets/tumour/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy.special import ndtr, ndtri


def volume(diameter: np.ndarray | float) -> np.ndarray:
    """Volume (cm^3) of a sphere of the given diameter (cm)."""
    return 4.0 / 3.0 * np.pi * (np.asarray(diameter, dtype=float) / 2.0) ** 3


def diameter(vol: np.ndarray | float) -> np.ndarray:
    """Diameter (cm) of a sphere of the given volume (cm^3)."""
    return 2.0 * (np.maximum(np.asarray(vol, dtype=float), 0.0) / (4.0 / 3.0 * np.pi)) ** (1.0 / 3.0)


DEATH_DIAMETER = 13.0  # cm, a tumour this large kills the patient
DEATH_VOLUME = float(volume(DEATH_DIAMETER))  # 1150.35 cm^3, also the benchmark's normalising constant
CARRYING_CAPACITY = float(volume(30.0))  # K, cm^3
CELL_DENSITY = 5.8e8  # cells per cm^3; recovery has probability exp(-V * density)
CHEMO_DOSE = 5.0  # concentration units added by one application
RADIO_DOSE = 2.0  # Gy per application
CHEMO_DECAY = 0.5  # per day: half-life of one day
NOISE_SD = 0.01  # sd of the daily relative growth noise
POLICY_WINDOW = 15  # days of diameters the treatment policy averages

# Stage -> (mu, sigma, lower, upper) of log-diameter, truncated to [lower, upper] cm
# (Geng et al. 2017 after Detterbeck and Gibson 2008), and the stage counts that weight them.
STAGES = {
    "I": (1.72, 4.70, 0.3, 5.0),
    "II": (1.96, 1.63, 0.3, 13.0),
    "IIIA": (1.91, 9.40, 0.3, 13.0),
    "IIIB": (2.76, 6.87, 0.3, 13.0),
    "IV": (3.86, 8.82, 0.3, 13.0),
}
STAGE_COUNTS = {"I": 1432, "II": 128, "IIIA": 1306, "IIIB": 7248, "IV": 12840}
ALPHA_MEAN, ALPHA_SD = 0.0398, 0.168  # radio-sensitivity, per Gy
RHO_MEAN, RHO_SD = 7e-5, 7.23e-3  # growth rate, per day
ALPHA_RHO_CORR = 0.87
BETA_C_MEAN, BETA_C_SD = 0.028, 0.0007  # chemo-sensitivity
ALPHA_BETA_RATIO = 10.0
TYPE_BOOST = 0.1  # patient type 1: alpha mean +10 %; type 3: beta_c mean +10 %; type 2: neither


@dataclass(frozen=True)
class Patients:
    """Static parameters of a cohort, arrays (N,)."""

    alpha: np.ndarray
    beta: np.ndarray
    rho: np.ndarray
    beta_c: np.ndarray
    patient_type: np.ndarray  # 1, 2 or 3: the benchmark's only static input
    stage: np.ndarray  # index into STAGES
    initial_volume: np.ndarray  # cm^3

    def __len__(self) -> int:
        return len(self.alpha)

    def take(self, index: np.ndarray) -> "Patients":
        return Patients(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @classmethod
    def draw(cls, n: int, rng: np.random.Generator) -> "Patients":
        """Sample n patients: stage, initial diameter, (alpha, rho) jointly normal and positive, beta_c, type."""
        names = list(STAGES)
        weights = np.array([STAGE_COUNTS[s] for s in names], dtype=float)
        stage = rng.choice(len(names), size=n, p=weights / weights.sum())
        mu, sigma, lo, hi = (np.array([STAGES[s][i] for s in names])[stage] for i in range(4))
        # Truncated normal on the log-diameter by inverting its CDF between the bounds.
        a, b = ndtr((np.log(lo) - mu) / sigma), ndtr((np.log(hi) - mu) / sigma)
        z = ndtri(a + rng.random(n) * (b - a))
        initial_volume = volume(np.clip(np.exp(mu + sigma * z), lo, hi))

        cov = np.array(
            [
                [ALPHA_SD**2, ALPHA_RHO_CORR * ALPHA_SD * RHO_SD],
                [ALPHA_RHO_CORR * ALPHA_SD * RHO_SD, RHO_SD**2],
            ]
        )
        kept = np.empty((0, 2))
        while len(kept) < n:  # keep only positive (alpha, rho) pairs
            draw = rng.multivariate_normal([ALPHA_MEAN, RHO_MEAN], cov, size=2 * n)
            kept = np.vstack([kept, draw[(draw > 0).all(axis=1)]])
        alpha, rho = kept[:n, 0], kept[:n, 1]

        patient_type = rng.integers(1, 4, n)
        alpha = alpha + ALPHA_MEAN * TYPE_BOOST * (patient_type == 1)
        beta_c = np.abs(BETA_C_MEAN + BETA_C_SD * rng.standard_normal(n))
        beta_c = beta_c + BETA_C_MEAN * TYPE_BOOST * (patient_type == 3)
        return cls(alpha, alpha / ALPHA_BETA_RATIO, rho, beta_c, patient_type, stage, initial_volume)


def chemo_concentration(previous: np.ndarray, chemo: np.ndarray) -> np.ndarray:
    """Today's chemotherapy concentration from yesterday's and today's application (0/1)."""
    return previous * CHEMO_DECAY + CHEMO_DOSE * chemo


def grow(
    p: Patients, vol: np.ndarray, conc: np.ndarray, radio: np.ndarray, eps: np.ndarray, recovery_u: np.ndarray | None
) -> np.ndarray:
    """Tomorrow's volume from today's volume, concentration, radio application (0/1) and noise.

    Clipped to [0, DEATH_VOLUME]; a dead (DEATH_VOLUME) or cured (0) tumour stays so. With
    `recovery_u` (uniforms), the tumour is cured with probability exp(-V * CELL_DENSITY).
    """
    dose = RADIO_DOSE * radio
    safe = np.maximum(vol, 1e-12)
    factor = 1.0 + p.rho * np.log(CARRYING_CAPACITY / safe) - p.beta_c * conc - (p.alpha * dose + p.beta * dose**2) + eps
    nxt = np.clip(vol * factor, 0.0, DEATH_VOLUME)
    if recovery_u is not None:
        nxt = np.where(recovery_u < np.exp(-nxt * CELL_DENSITY), 0.0, nxt)
    absorbed = (vol <= 0.0) | (vol >= DEATH_VOLUME)
    return np.where(absorbed, vol, nxt)


def treatment_probability(gamma: float, mean_diameter: np.ndarray) -> np.ndarray:
    """The confounded assignment policy: sigmoid(gamma / D_max (mean diameter - D_max / 2))."""
    return 1.0 / (1.0 + np.exp(-(gamma / DEATH_DIAMETER) * (mean_diameter - DEATH_DIAMETER / 2.0)))
