rule evaluate:
    """The held-out frames of a target rendered from their own poses: SSIM, PSNR, pose distance, flicker."""
    input:
        frames=f"{RESULTS}/videos/{{target}}/frames.h5",
        poses=f"{RESULTS}/videos/{{target}}/poses.h5",
        checkpoint=f"{RESULTS}/models/{{target}}/generator.pt",
    output:
        metrics=f"{RESULTS}/evaluate/{{target}}/metrics.json",
        plot=report(
            f"{RESULTS}/evaluate/{{target}}/evaluate.png",
            caption="../report/evaluate.rst",
            category="Evaluation",
            subcategory="{target}",
        ),
        video=report(
            f"{RESULTS}/evaluate/{{target}}/heldout.mp4",
            caption="../report/heldout.rst",
            category="Evaluation",
            subcategory="{target}",
        ),
    log:
        f"{RESULTS}/logs/evaluate/{{target}}.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        **resources_of("evaluate"),
    params:
        overrides=overrides("evaluate"),
        paths=lambda wc, input, output: paths(
            {
                "evaluate.frames": input.frames,
                "evaluate.poses": input.poses,
                "evaluate.checkpoint": input.checkpoint,
                "evaluate.output": output.metrics,
                "evaluate.plot": output.plot,
                "evaluate.video": output.video,
            }
        ),
    shell:
        dancenow("evaluate")


use rule evaluate as evaluate_ablation with:
    input:
        frames=f"{RESULTS}/videos/{{target}}/frames.h5",
        poses=f"{RESULTS}/videos/{{target}}/poses.h5",
        checkpoint=f"{RESULTS}/ablation/{{target}}/{{variant}}/generator.pt",
    output:
        metrics=f"{RESULTS}/ablation/{{target}}/{{variant}}/metrics.json",
        plot=report(
            f"{RESULTS}/ablation/{{target}}/{{variant}}/evaluate.png",
            caption="../report/evaluate.rst",
            category="Ablation",
            subcategory="{target}",
        ),
        video=report(
            f"{RESULTS}/ablation/{{target}}/{{variant}}/heldout.mp4",
            caption="../report/heldout.rst",
            category="Ablation",
            subcategory="{target}",
        ),
    log:
        f"{RESULTS}/logs/ablation/{{target}}/{{variant}}/evaluate.log",


rule compare:
    """Every target's held-out metrics in one table."""
    input:
        expand(f"{RESULTS}/evaluate/{{target}}/metrics.json", target=TARGETS),
    output:
        table=report(
            f"{RESULTS}/evaluate/metrics.html",
            caption="../report/metrics.rst",
            category="Evaluation",
        ),
        csv=f"{RESULTS}/evaluate/metrics.csv",
    log:
        f"{RESULTS}/logs/evaluate/compare.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        **resources_of("compare"),
    params:
        overrides=overrides("compare"),
        paths=lambda wc, input, output: paths(
            {
                "compare.metrics": list(input),
                "compare.names": TARGETS,
                "compare.output": output.table,
                "compare.csv": output.csv,
            }
        ),
    shell:
        dancenow("compare")


use rule compare as compare_ablation with:
    input:
        expand(
            f"{RESULTS}/ablation/{{target}}/{{variant}}/metrics.json",
            target=TARGETS,
            variant=VARIANTS,
        ),
    output:
        table=report(
            f"{RESULTS}/ablation/ablation.html",
            caption="../report/ablation.rst",
            category="Ablation",
        ),
        csv=f"{RESULTS}/ablation/ablation.csv",
    log:
        f"{RESULTS}/logs/ablation/compare.log",
    params:
        overrides=overrides("compare"),
        paths=lambda wc, input, output: paths(
            {
                "compare.metrics": list(input),
                "compare.names": [f"{t}/{v}" for t in TARGETS for v in VARIANTS],
                "compare.output": output.table,
                "compare.csv": output.csv,
            }
        ),
