#!/usr/bin/env bash
# Starts a one-node Slurm cluster (munged + slurmctld + slurmd, all under one temp folder) for the Slurm system
# test and prints the lines .ci/run evals:
#   export SLURM_CONF=/tmp/ablate-slurm.XXXXXX/slurm.conf
#   export ABLATE_TEST_SLURM=/tmp/ablate-slurm.XXXXXX
# Prints nothing (and fails, having stopped whatever it started) where Slurm is not installed or does not come
# up within its bounds; the tests that need it then skip with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
timeout 90 tests/faults/slurm_start.sh  # .ci/run stops it (tests/faults/slurm_start.sh stop DIR) at exit
