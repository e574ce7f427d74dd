rule synth:
    """The built-in demo input: a procedural performer dancing to a procedural beat."""
    output:
        "demo/{performer}.mp4",
    wildcard_constraints:
        performer="|".join(SYNTH_PERFORMERS),
    params:
        seconds=lambda wc: config.get("synth_seconds", {}).get(wc.performer, 12),
        overrides="",
    log:
        "demo/logs/{performer}.log",
    threads: 1
    shell:
        dancenow("synth") + " synth.performer={wildcards.performer} synth.seconds={params.seconds}"
        " synth.output={output} 2> {log}"
