"""What training costs: the project's measured seconds per step, per preset and phase, and a plan's seconds."""

# Seconds per training step measured by this project (README, Benchmarks), per preset and phase, with where.
STEP_TIMES = {
    "tiny": ("2-core CPU (AVX2), busy", {"main": 0.14, "face": 0.14},
             "tests' training logs; the face phase counted at the main phase's step time"),
    "quick": ("2-core CPU, idle", {"main": 0.49, "face": 0.093},
              "README: CPU threads (main); the face phase on alice's frames, 2026-12-04 (64 px crops)"),
    "paper": ("one H100, batch 1, float32", {"global": 0.0848, "main": 0.108, "face": 0.0394},
              "README, EDN at the paper's size"),
}


SIZES_OF = {"demo": "quick"}  # a preset with another's sizes (only its budget differs) steps at that one's times


def step_seconds(preset, phase):
    times = STEP_TIMES[SIZES_OF.get(preset, preset)][1]
    return times.get(phase, times["main"])


def plan_seconds(plan, preset):
    """Seconds of a phase plan [(phase, iterations)] at the preset's measured step times."""
    return sum(n * step_seconds(preset, phase) for phase, n in plan)
