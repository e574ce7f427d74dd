"""Training EDN's generator: the samples, the optimisation steps, the phases and their loop, resuming."""
