rule extract:
    """Video -> frames.h5 at the preset's size (the person kept whole) + the audio track."""
    input:
        video_of,
    output:
        frames=f"{RESULTS}/videos/{{name}}/frames.h5",
        audio=f"{RESULTS}/videos/{{name}}/audio.m4a",
    log:
        f"{RESULTS}/logs/extract/{{name}}.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        **resources_of("extract"),
    params:
        overrides=overrides("extract"),
        paths=lambda wc, input, output: paths(
            {
                "extract.input": input[0],
                "extract.output": output.frames,
                "extract.audio": output.audio,
            }
        ),
    shell:
        dancenow("extract")
