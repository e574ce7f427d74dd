rule train:
    """pix2pixHD generator of one target person; resumes from {RESULTS}/models/{target}/work after a kill."""
    input:
        frames=f"{RESULTS}/videos/{{target}}/frames.h5",
        poses=f"{RESULTS}/videos/{{target}}/poses.h5",
    output:
        f"{RESULTS}/models/{{target}}/generator.pt",
    params:
        overrides=overrides("train"),
        workdir=lambda wc: f"{RESULTS}/models/{wc.target}/work",
    log:
        f"{RESULTS}/logs/train/{{target}}.log",
    threads: workflow.cores
    shell:
        dancenow("train") + " train.frames={input.frames} train.poses={input.poses} train.output={output}"
        " train.workdir={params.workdir} 2> {log}"
