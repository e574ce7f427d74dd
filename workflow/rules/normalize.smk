rule normalize:
    """The source's poses moved and scaled into the target's frame (EDN global pose normalization)."""
    input:
        source=f"{RESULTS}/videos/{SOURCE}/poses.h5",
        target=f"{RESULTS}/videos/{{target}}/poses.h5",
    output:
        poses=f"{RESULTS}/transfer/{{target}}/normalized.h5",
        plot=report(
            f"{RESULTS}/transfer/{{target}}/normalize.png",
            caption="../report/normalize.rst",
            category="Normalization",
        ),
    log:
        f"{RESULTS}/logs/normalize/{{target}}.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        **resources_of("normalize"),
    params:
        overrides=overrides("normalize"),
        paths=lambda wc, input, output: paths(
            {
                "normalize.source": input.source,
                "normalize.target": input.target,
                "normalize.output": output.poses,
                "normalize.plot": output.plot,
            }
        ),
    shell:
        dancenow("normalize")
