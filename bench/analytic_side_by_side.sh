#!/usr/bin/env bash
# Analytic kernels side by side: `sgntk bench --analytic-only --kernel-points 1000` of a reference
# binary (BEFORE) and of the binary under test (AFTER), and neural-tangents' jitted kernel_fn
# (bench/nt_reference.py), two rounds in alternation, then AFTER's values against neural-tangents.
# Usage: bench/analytic_side_by_side.sh BEFORE AFTER [PYTHON]   (PYTHON: jax 0.4.26,
# neural-tangents 0.6.5, numpy<2; see bench/nt_reference.py)
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 BEFORE_SGNTK AFTER_SGNTK [PYTHON]" >&2
  exit 2
fi
before=$1 after=$2 py=${3:-python3}
here=$(cd "$(dirname "$0")" && pwd)
lscpu | grep -E "Model name|^CPU\(s\)" || true
for round in 1 2; do
  echo "== round $round"; uptime
  echo "-- before: $before"; "$before" bench --analytic-only --kernel-points 1000 | grep analytic
  echo "-- after: $after"; "$after" bench --analytic-only --kernel-points 1000 | grep analytic
  echo "-- neural-tangents"; "$py" "$here/nt_reference.py" --reps 5 | grep -v "^jax"
done
uptime
echo "== values of $after vs neural-tangents"
"$py" "$here/nt_reference.py" --reps 1 --sgntk "$after"
