rule check:
    """Before training: the target video's facts and how much of the source's dance its training frames cover
    (warns below check.min_coverage; with check.strict=true it fails, and nothing trains).
    """
    input:
        source=f"{RESULTS}/transfer/{{target}}/normalized.h5",
        frames=f"{RESULTS}/videos/{{target}}/frames.h5",
        poses=f"{RESULTS}/videos/{{target}}/poses.h5",
    output:
        report=f"{RESULTS}/check/{{target}}/coverage.json",
        plot=report(
            f"{RESULTS}/check/{{target}}/coverage.png",
            caption="../report/coverage.rst",
            category="Check",
        ),
    log:
        f"{RESULTS}/logs/check/{{target}}.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        **resources_of("check"),
    params:
        overrides=overrides("check", [f"check.holdout={HOLDOUT}"]),
        paths=lambda wc, input, output: paths(
            {
                "check.source": input.source,
                "check.frames": input.frames,
                "check.poses": input.poses,
                "check.output": output.report,
                "check.plot": output.plot,
            }
        ),
    shell:
        dancenow("check")
