#!/bin/bash
# The Snakemake driver as a long, small Slurm job (login nodes kill long processes). It needs one CPU and a little
# memory; every stage runs as a Slurm job of its own (profiles/slurm) while it waits. Submit it from the checkout,
# with the environment that has `snakemake` and `dancenow` active (the job inherits it); extra arguments go to
# snakemake:
#   sbatch profiles/slurm/submit-driver.sh
#   sbatch -A myaccount -p long --time=4-0 profiles/slurm/submit-driver.sh --configfile my.yaml
# Its log: dancenow-driver-<job id>.log where it was submitted. If it is stopped (time limit, scancel), Snakemake
# cancels the running stages' jobs; submit it again to go on (training resumes from its last checkpoint).
#SBATCH --job-name=dancenow-driver
#SBATCH --cpus-per-task=1
#SBATCH --mem=4G
#SBATCH --time=2-00:00:00
#SBATCH --output=dancenow-driver-%j.log
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
exec snakemake --profile profiles/slurm "$@"
