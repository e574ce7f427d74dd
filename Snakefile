# dancenow: Everybody Dance Now motion transfer. Run with `snakemake --profile profiles/local` (this machine)
# or `snakemake --profile profiles/slurm` (a Slurm cluster). What to process: config/config.yaml (config/README.md).
from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/extract.smk"
include: "workflow/rules/pose.smk"
include: "workflow/rules/normalize.smk"
include: "workflow/rules/check.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/render.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/choreo.smk"
include: "workflow/rules/export.smk"


REMADE = [
    str(p)
    for p in DAMAGED
    if not only_looking(sys.argv) and any(r.is_producer(str(p)) for r in workflow.rules)
]


rule all:
    input:
        REMADE,
        expand(f"{RESULTS}/transfer/{{target}}/{{target}}.mp4", target=TARGETS),
        f"{RESULTS}/grid.mp4",
        evaluation_outputs(),
        choreo_outputs(),
        export_outputs(),
