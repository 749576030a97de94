"""The built-in demo on the simulated plant: train, evaluate against seasonal naive and the
oracle, answer a what-if and score it against the simulator's exact counterfactuals."""
