# A new dance (`dancenow choreo`) and every target performing it: the same normalize, render and grid rules as the
# source's dance, on results/choreo/dance.h5 instead of the source's poses, without music.


rule choreo:
    """An acLSTM trained on the source's poses and/or BVH motion capture makes up a dance of choreo.seconds. The
    trained network (results/choreo/model.pt) is not an output: Snakemake would delete it before a rerun, and the
    stage reuses it when only the length, seed frames or temperature of the dance change.
    """
    input:
        poses=(
            [f"{RESULTS}/videos/{SOURCE}/poses.h5"]
            if CHOREO["enabled"] and CHOREO["source_poses"]
            else []
        ),
        bvh=CHOREO["bvh"] if CHOREO["enabled"] else [],
    output:
        dance=f"{RESULTS}/choreo/dance.h5",
        video=report(
            f"{RESULTS}/choreo/dance.mp4",
            caption="../report/choreo.rst",
            category="Choreography",
        ),
        metrics=f"{RESULTS}/choreo/metrics.json",
    log:
        f"{RESULTS}/logs/choreo.log",
    conda:
        "../../environment.yml"
    threads: CHOREO_THREADS
    resources:
        **resources_of("choreo"),
    params:
        overrides=overrides(
            "choreo",
            [
                f"seed={CHOREO['seed']}",
                f"choreo.seconds={CHOREO['seconds']}",
                f"choreo.temperature={CHOREO['temperature']}",
            ],
        ),
        paths=lambda wc, input, output: paths(
            {
                "choreo.poses": list(input.poses),
                "choreo.bvh": list(input.bvh),
                "choreo.output": output.dance,
                "choreo.video": output.video,
                "choreo.metrics": output.metrics,
                "choreo.model": os.path.join(
                    os.path.dirname(output.dance), "model.pt"
                ),
            }
        ),
    shell:
        dancenow("choreo")


use rule normalize as normalize_choreo with:
    input:
        source=f"{RESULTS}/choreo/dance.h5",
        target=f"{RESULTS}/videos/{{target}}/poses.h5",
    output:
        poses=f"{RESULTS}/choreo/{{target}}/normalized.h5",
        plot=report(
            f"{RESULTS}/choreo/{{target}}/normalize.png",
            caption="../report/normalize.rst",
            category="Choreography",
            subcategory="{target}",
        ),
    log:
        f"{RESULTS}/logs/choreo/{{target}}/normalize.log",


use rule render as render_choreo with:
    input:  # no audio: the dance has no music
        poses=f"{RESULTS}/choreo/{{target}}/normalized.h5",
        checkpoint=f"{RESULTS}/models/{{target}}/generator.pt",
    output:
        frames=f"{RESULTS}/choreo/{{target}}/generated.h5",
        video=report(
            f"{RESULTS}/choreo/{{target}}/{{target}}.mp4",
            caption="../report/choreo_render.rst",
            category="Choreography",
            subcategory="{target}",
        ),
    log:
        f"{RESULTS}/logs/choreo/{{target}}/render.log",


use rule grid as grid_choreo with:
    input:  # no source frames (pose | targets), no audio
        poses=f"{RESULTS}/choreo/dance.h5",
        targets=expand(f"{RESULTS}/choreo/{{target}}/generated.h5", target=TARGETS),
    output:
        report(
            f"{RESULTS}/choreo/grid.mp4",
            caption="../report/choreo_grid.rst",
            category="Choreography",
        ),
    log:
        f"{RESULTS}/logs/choreo/grid.log",
