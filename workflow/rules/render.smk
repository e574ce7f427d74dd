rule render:
    """The target dancing the source's dance, with the source's music."""
    input:
        poses=f"{RESULTS}/transfer/{{target}}/normalized.h5",
        checkpoint=f"{RESULTS}/models/{{target}}/generator.pt",
        audio=f"{RESULTS}/videos/{SOURCE}/audio.m4a",
    output:
        frames=f"{RESULTS}/transfer/{{target}}/generated.h5",
        video=report(
            f"{RESULTS}/transfer/{{target}}/{{target}}.mp4",
            caption="../report/render.rst",
            category="Motion transfer",
        ),
    log:
        f"{RESULTS}/logs/render/{{target}}.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        **resources_of("render"),
    params:
        overrides=overrides("render"),
        audio=optional_input("audio"),  # a rule without the audio input makes a silent video
    shell:
        dancenow("render")
        + " render.poses={input.poses} render.checkpoint={input.checkpoint}"
        " render.audio={params.audio} render.output={output.frames} render.video={output.video} > {log} 2>&1"


rule grid:
    """source | pose | every target, side by side, with the music."""
    input:
        frames=f"{RESULTS}/videos/{SOURCE}/frames.h5",
        poses=f"{RESULTS}/videos/{SOURCE}/poses.h5",
        audio=f"{RESULTS}/videos/{SOURCE}/audio.m4a",
        targets=expand(f"{RESULTS}/transfer/{{target}}/generated.h5", target=TARGETS),
    output:
        report(
            f"{RESULTS}/grid.mp4",
            caption="../report/grid.rst",
            category="Motion transfer",
        ),
    log:
        f"{RESULTS}/logs/grid.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        **resources_of("grid"),
    params:
        overrides=overrides("grid"),
        frames=optional_input("frames"),  # without the source's frames: pose | targets
        audio=optional_input("audio"),
        targets=lambda wc, input: hydra_list(input.targets),
        names=hydra_list(TARGETS),
    shell:
        dancenow("grid")
        + " grid.source_frames={params.frames} grid.source_poses={input.poses}"
        " grid.audio={params.audio} 'grid.targets={params.targets}' 'grid.names={params.names}'"
        " grid.output={output} > {log} 2>&1"
