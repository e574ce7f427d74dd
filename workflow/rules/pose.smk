rule pose:
    """frames.h5 -> poses.h5: mediapipe Holistic mapped to OpenPose BODY_25 + face + hands."""
    input:
        f"{RESULTS}/videos/{{name}}/frames.h5",
    output:
        f"{RESULTS}/videos/{{name}}/poses.h5",
    log:
        f"{RESULTS}/logs/pose/{{name}}.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        **resources_of("pose"),
    params:
        overrides=overrides("pose"),
        paths=lambda wc, input, output: paths(
            {"pose.input": input[0], "pose.output": output[0]}
        ),
    shell:
        dancenow("pose")
