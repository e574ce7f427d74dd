rule pose:
    """frames.h5 -> poses.h5: mediapipe Holistic mapped to OpenPose BODY_25 + face + hands."""
    input:
        f"{RESULTS}/videos/{{name}}/frames.h5",
    output:
        f"{RESULTS}/videos/{{name}}/poses.h5",
    params:
        overrides=overrides("pose"),
    log:
        f"{RESULTS}/logs/pose/{{name}}.log",
    threads: 1
    shell:
        dancenow("pose") + " pose.input={input} pose.output={output} 2> {log}"
