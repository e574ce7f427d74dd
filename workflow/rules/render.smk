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
        paths=lambda wc, input, output: paths(
            {
                "render.poses": input.poses,
                "render.checkpoint": input.checkpoint,
                "render.audio": input.get(
                    "audio"
                ),  # a rule without the audio input makes a silent video
                "render.output": output.frames,
                "render.video": output.video,
            }
        ),
    shell:
        dancenow("render")


rule grid:
    """source, pose and every target as captioned tiles (2x2 for two targets), with the music."""
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
        paths=lambda wc, input, output: paths(
            {
                "grid.source_frames": input.get(
                    "frames"
                ),  # without the source's frames: pose | targets
                "grid.source_poses": input.poses,
                "grid.audio": input.get("audio"),
                "grid.targets": list(input.targets),
                "grid.names": TARGETS,
                "grid.output": output[0],
            }
        ),
    shell:
        dancenow("grid")
