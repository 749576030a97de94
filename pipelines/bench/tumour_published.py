"""Published tumour-growth results (not run here): the corrected Tables 9-11 of the Causal Transformer.

Source: README of GitHub Valentyn1997/CausalTransformer, "Updated results / Last active entry
zeroing bug" (they replace the paper's Tables 9-11). Normalised RMSE (% of the death volume),
means over five runs, full protocol (10,000 train patients), gamma = 0, 1, 2, 3, 4.
"""

from __future__ import annotations

MODELS = ("MSMs", "RMSNs", "CRN", "G-Net", "CT (alpha=0)", "CT")

ONE_STEP = {  # Table 9: model -> gamma 0..4
    "MSMs": (1.091, 1.202, 1.383, 1.647, 1.981),
    "RMSNs": (0.834, 0.860, 1.000, 1.131, 1.434),
    "CRN": (0.755, 0.788, 0.881, 1.062, 1.358),
    "G-Net": (0.795, 0.841, 0.946, 1.057, 1.319),
    "CT (alpha=0)": (0.772, 0.783, 0.862, 1.062, 1.331),
    "CT": (0.770, 0.783, 0.864, 1.098, 1.413),
}

RANDOM_TRAJECTORIES = {  # Table 10: tau -> model -> gamma 0..4
    2: {"MSMs": (0.975, 1.183, 1.428, 1.673, 1.884), "RMSNs": (0.825, 0.851, 0.861, 0.993, 1.269),
        "CRN": (0.761, 0.760, 0.805, 2.045, 1.209), "G-Net": (1.006, 0.994, 1.185, 1.083, 1.243),
        "CT (alpha=0)": (0.766, 0.781, 0.814, 0.944, 1.191), "CT": (0.762, 0.781, 0.818, 1.001, 1.163)},
    3: {"MSMs": (0.937, 1.133, 1.344, 1.525, 1.564), "RMSNs": (0.824, 0.871, 0.857, 1.020, 1.267),
        "CRN": (0.769, 0.777, 0.826, 1.789, 1.356), "G-Net": (1.103, 1.097, 1.355, 1.225, 1.382),
        "CT (alpha=0)": (0.766, 0.806, 0.828, 0.996, 1.335), "CT": (0.762, 0.807, 0.838, 1.072, 1.283)},
    4: {"MSMs": (0.845, 1.022, 1.196, 1.325, 1.308), "RMSNs": (0.780, 0.834, 0.814, 0.988, 1.169),
        "CRN": (0.734, 0.743, 0.805, 1.567, 1.327), "G-Net": (1.092, 1.074, 1.385, 1.212, 1.358),
        "CT (alpha=0)": (0.730, 0.776, 0.802, 0.983, 1.394), "CT": (0.726, 0.777, 0.810, 1.075, 1.302)},
    5: {"MSMs": (0.747, 0.896, 1.038, 1.128, 1.155), "RMSNs": (0.717, 0.775, 0.747, 0.922, 1.057),
        "CRN": (0.678, 0.692, 0.761, 1.410, 1.242), "G-Net": (1.033, 1.014, 1.358, 1.160, 1.285),
        "CT (alpha=0)": (0.673, 0.722, 0.748, 0.931, 1.405), "CT": (0.669, 0.723, 0.751, 1.036, 1.264)},
    6: {"MSMs": (0.647, 0.778, 0.894, 0.952, 1.060), "RMSNs": (0.646, 0.702, 0.675, 0.847, 0.947),
        "CRN": (0.614, 0.631, 0.706, 1.308, 1.132), "G-Net": (0.963, 0.942, 1.321, 1.092, 1.195),
        "CT (alpha=0)": (0.609, 0.657, 0.684, 0.864, 1.383), "CT": (0.605, 0.657, 0.685, 0.979, 1.201)},
}

SLIDING_TREATMENT = {  # Table 11: tau -> model -> gamma 0..4
    2: {"MSMs": (1.362, 1.612, 1.939, 2.290, 2.468), "RMSNs": (0.742, 0.760, 0.827, 0.957, 1.276),
        "CRN": (0.671, 0.666, 0.741, 1.668, 1.151), "G-Net": (1.021, 1.009, 1.271, 1.113, 1.257),
        "CT (alpha=0)": (0.685, 0.679, 0.714, 0.875, 1.072), "CT": (0.681, 0.677, 0.713, 0.908, 1.274)},
    3: {"MSMs": (1.679, 1.953, 2.302, 2.640, 2.622), "RMSNs": (0.783, 0.792, 0.889, 1.086, 1.382),
        "CRN": (0.700, 0.692, 0.818, 1.959, 1.360), "G-Net": (1.253, 1.226, 1.611, 1.383, 1.574),
        "CT (alpha=0)": (0.707, 0.711, 0.770, 0.969, 1.261), "CT": (0.703, 0.712, 0.770, 1.010, 1.536)},
    4: {"MSMs": (1.871, 2.145, 2.489, 2.791, 2.615), "RMSNs": (0.821, 0.837, 0.963, 1.216, 1.416),
        "CRN": (0.734, 0.722, 0.898, 2.201, 1.573), "G-Net": (1.390, 1.347, 1.819, 1.544, 1.769),
        "CT (alpha=0)": (0.729, 0.749, 0.826, 1.053, 1.426), "CT": (0.726, 0.748, 0.822, 1.089, 1.762)},
    5: {"MSMs": (1.963, 2.221, 2.547, 2.810, 2.542), "RMSNs": (0.855, 0.889, 1.030, 1.349, 1.434),
        "CRN": (0.769, 0.755, 0.976, 2.361, 1.730), "G-Net": (1.477, 1.430, 1.963, 1.667, 1.907),
        "CT (alpha=0)": (0.758, 0.788, 0.875, 1.118, 1.560), "CT": (0.756, 0.786, 0.870, 1.154, 1.922)},
    6: {"MSMs": (1.970, 2.205, 2.509, 2.732, 2.422), "RMSNs": (0.889, 0.936, 1.081, 1.473, 1.436),
        "CRN": (0.807, 0.790, 1.047, 2.480, 1.827), "G-Net": (1.538, 1.493, 2.062, 1.758, 1.994),
        "CT (alpha=0)": (0.790, 0.827, 0.915, 1.177, 1.654), "CT": (0.789, 0.821, 0.909, 1.205, 2.052)},
}

MULTI_STEP = {"sliding_treatment": SLIDING_TREATMENT, "random_trajectories": RANDOM_TRAJECTORIES}


def best(table: dict[str, tuple[float, ...]], gamma: int) -> tuple[float, str]:
    """The lowest published value at `gamma` and the model that reached it."""
    name = min(table, key=lambda m: table[m][gamma])
    return table[name][gamma], name


def one_step(gamma: int) -> dict[str, tuple[float, str]]:
    """Published one-step rows at `gamma`: the best model and CT."""
    return {"best": best(ONE_STEP, gamma), "CT": (ONE_STEP["CT"][gamma], "CT")}


def multi_step(family: str, gamma: int) -> dict[str, list[tuple[float, str]]]:
    """Published tau = 2..6 rows at `gamma` for a plan family: the best model per tau and CT."""
    table = MULTI_STEP[family]
    return {"best": [best(table[tau], gamma) for tau in range(2, 7)],
            "CT": [(table[tau]["CT"][gamma], "CT") for tau in range(2, 7)]}
