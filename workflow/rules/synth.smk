rule synth:
    """The built-in demo input: a procedural performer dancing to a procedural beat."""
    output:
        "demo/{performer}.mp4",
    log:
        "demo/logs/{performer}.log",
    wildcard_constraints:
        performer="|".join(PERFORMERS),
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        **resources_of("synth"),
    params:
        seconds=lambda wc: config["synth_seconds"][wc.performer],
        overrides="",
        paths=lambda wc, output: paths({"synth.output": output[0]}),
    shell:
        dancenow(
            "synth",
            "synth.performer={wildcards.performer} synth.seconds={params.seconds}",
        )
