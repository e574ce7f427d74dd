"""What training costs: the project's measured seconds per step, per preset and phase, and a plan's seconds."""

# Seconds per training step measured by this project (README, Benchmarks), per preset and phase, with where.
STEP_TIMES = {
    "tiny": ("2-core CPU (AVX2), busy", {"main": 0.14, "face": 0.14},
             "tests' training logs; the face phase counted at the main phase's step time"),
    "quick": ("2-core CPU (AVX2), idle", {"main": 0.49, "face": 0.49},
              "README, CPU threads; the face phase counted at the main phase's step time"),
    "paper": ("one H100, batch 1, float32", {"global": 0.0848, "main": 0.108, "face": 0.0394},
              "README, EDN at the paper's size"),
}


def step_seconds(preset, phase):
    return STEP_TIMES[preset][1].get(phase, STEP_TIMES[preset][1]["main"])


def plan_seconds(plan, preset):
    """Seconds of a phase plan [(phase, iterations)] at the preset's measured step times."""
    return sum(n * step_seconds(preset, phase) for phase, n in plan)
