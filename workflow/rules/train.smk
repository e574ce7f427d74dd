rule train:
    """EDN generator of one target person (+ temporal smoothing, face GAN, local enhancer as the preset says);
    resumes from {RESULTS}/models/{target}/work after a kill. The last `holdout` of the frames are not trained on."""
    input:
        frames=f"{RESULTS}/videos/{{target}}/frames.h5",
        poses=f"{RESULTS}/videos/{{target}}/poses.h5",
    output:
        f"{RESULTS}/models/{{target}}/generator.pt",
    params:
        overrides=overrides("train", [f"train.holdout={HOLDOUT}"]),
        workdir=lambda wc, output: os.path.join(os.path.dirname(output[0]), "work"),
    log:
        f"{RESULTS}/logs/train/{{target}}.log",
    threads: workflow.cores
    shell:
        dancenow("train") + " train.frames={input.frames} train.poses={input.poses} train.output={output}"
        " train.workdir={params.workdir} 2> {log}"


use rule train as train_ablation with:
    output:
        f"{RESULTS}/ablation/{{target}}/{{variant}}/generator.pt",
    params:
        overrides=lambda wc: overrides("train", [f"train.holdout={HOLDOUT}", *ABLATION[wc.variant]]),
        workdir=lambda wc, output: os.path.join(os.path.dirname(output[0]), "work"),
    log:
        f"{RESULTS}/logs/ablation/{{target}}/{{variant}}/train.log",
