# The poses pose-guided animators and other tools read: OpenPose JSON (one file per frame) and a pose video at the
# target's canvas, of the source's dance in every target's frame and, with the choreography, of the made-up dance.


rule export:
    """The source's poses normalized into the target's frame as OpenPose JSON and a pose video with the music."""
    input:
        poses=f"{RESULTS}/transfer/{{target}}/normalized.h5",
        audio=f"{RESULTS}/videos/{SOURCE}/audio.m4a",
    output:
        json=directory(f"{RESULTS}/export/{{target}}/openpose"),
        video=report(
            f"{RESULTS}/export/{{target}}/pose.mp4",
            caption="../report/export.rst",
            category="Poses",
        ),
    log:
        f"{RESULTS}/logs/export/{{target}}.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        **resources_of("export"),
    params:
        overrides=overrides("export"),
        paths=lambda wc, input, output: paths(
            {
                "export.poses": input.poses,
                "export.audio": input.get("audio"),  # the made-up dance: silent
                "export.output": output.json,
                "export.video": output.video,
            }
        ),
    shell:
        dancenow("export")


use rule export as export_choreo with:
    input:
        poses=f"{RESULTS}/choreo/{{target}}/normalized.h5",
    output:
        json=directory(f"{RESULTS}/export/choreo/{{target}}/openpose"),
        video=report(
            f"{RESULTS}/export/choreo/{{target}}/pose.mp4",
            caption="../report/export.rst",
            category="Poses",
        ),
    log:
        f"{RESULTS}/logs/export/choreo/{{target}}.log",
