rule train:
    """EDN generator of one target person (+ temporal smoothing, face GAN, local enhancer as the preset says);
    resumes from {RESULTS}/models/{target}/work after a kill. The last `holdout` of the frames are not trained on.
    """
    input:
        frames=f"{RESULTS}/videos/{{target}}/frames.h5",
        poses=f"{RESULTS}/videos/{{target}}/poses.h5",
        check=f"{RESULTS}/check/{{target}}/coverage.json",
    output:
        f"{RESULTS}/models/{{target}}/generator.pt",
    log:
        f"{RESULTS}/logs/train/{{target}}.log",
    conda:
        "../../environment.yml"
    threads: TRAIN_THREADS
    resources:
        **resources_of("train"),
    params:
        overrides=overrides("train", [f"train.holdout={HOLDOUT}"]),
        paths=lambda wc, input, output: paths(
            {
                "train.frames": input.frames,
                "train.poses": input.poses,
                "train.output": output[0],
                "train.workdir": os.path.join(os.path.dirname(output[0]), "work"),
            }
        ),
    shell:
        dancenow("train")


use rule train as train_ablation with:
    output:
        f"{RESULTS}/ablation/{{target}}/{{variant}}/generator.pt",
    log:
        f"{RESULTS}/logs/ablation/{{target}}/{{variant}}/train.log",
    params:
        overrides=lambda wc: overrides(
            "train", [f"train.holdout={HOLDOUT}", f"variant={wc.variant}"]
        ),
