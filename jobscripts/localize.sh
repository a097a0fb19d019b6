#!/usr/bin/env bash
# Rewrite a site script of jobscripts/ so that it runs on a small Slurm that
# lacks the site's partitions, accounts and GPUs (the local test Slurm of
# tests/slurm/, or a workstation). Only #SBATCH lines change; the body, the
# module block and the shared wfmpi-job.sh are untouched:
#
#   --partition=*        -> --partition=$PARTITION (default: debug)
#   --account=*          -> removed
#   --gpus*=*, --gres=*, --gpu-bind=*  -> removed (no GPUs)
#   --mem=*, --exclusive -> removed (share the one small node)
#   --nodes=*            -> --nodes=1
#   --ntasks-per-node=*  -> --ntasks-per-node=$NTASKS (default 2)
#   --cpus-per-task=*    -> --cpus-per-task=1
#   --time=*             -> --time=$TIME (default 00:02:00)
#   --signal=USR1@*      -> --signal=USR1@$LEAD (default 30)
#   --output=*           -> removed (slurm-%j.out in the submit dir)
#
# usage: jobscripts/localize.sh SCRIPT > local.sbatch
# env:   PARTITION NTASKS TIME LEAD
# The copy sources wfmpi-job.sh from WFMPI_JOBSCRIPTS (export it, pointing at
# this directory, when the copy lives elsewhere) and must be submitted with
# WFMPI_SRUN_ARGS set (empty is fine) when the site's srun options (GPU
# binding, --mpi=pmi2) do not apply.
set -euo pipefail
[ $# = 1 ] || { echo "usage: $0 SCRIPT" >&2; exit 2; }
sed -E \
  -e "s/^#SBATCH --partition=.*/#SBATCH --partition=${PARTITION:-debug}/" \
  -e '/^#SBATCH --account=/d' \
  -e '/^#SBATCH --(gpus|gpus-per-node|gpus-per-task|gres|gpu-bind)=/d' \
  -e '/^#SBATCH --mem=/d' -e '/^#SBATCH --exclusive/d' \
  -e 's/^#SBATCH --nodes=.*/#SBATCH --nodes=1/' \
  -e "s/^#SBATCH --ntasks-per-node=.*/#SBATCH --ntasks-per-node=${NTASKS:-2}/" \
  -e 's/^#SBATCH --cpus-per-task=.*/#SBATCH --cpus-per-task=1/' \
  -e "s/^#SBATCH --time=.*/#SBATCH --time=${TIME:-00:02:00}/" \
  -e "s/^#SBATCH --signal=USR1@.*/#SBATCH --signal=USR1@${LEAD:-30}/" \
  -e '/^#SBATCH --output=/d' \
  "$1"
