#!/usr/bin/env bash
# Analytic kernels side by side: `sgntk bench --analytic-only --kernel-points 1000` of a reference
# binary (BEFORE) and of the binary under test (AFTER), and neural-tangents' jitted kernel_fn
# (bench/nt_reference.py), ROUNDS rounds in alternation (each the best of REPS timings: on a
# shared 2-core VM best-of-5 moves by ±40 % between rounds), then AFTER's values against
# neural-tangents.
# Usage: [REPS=40] [ROUNDS=3] bench/analytic_side_by_side.sh BEFORE AFTER [PYTHON]
#   (PYTHON: jax 0.4.26, neural-tangents 0.6.5, numpy<2; see bench/nt_reference.py; a binary
#   without `bench --kernel-reps` is timed with its own best of 5)
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: [REPS=40] [ROUNDS=3] $0 BEFORE_SGNTK AFTER_SGNTK [PYTHON]" >&2
  exit 2
fi
before=$1 after=$2 py=${3:-python3} reps=${REPS:-40} rounds=${ROUNDS:-3}
here=$(cd "$(dirname "$0")" && pwd)
timed() {
  local reps_flag=()
  if "$1" bench --help | grep -q -- --kernel-reps; then reps_flag=(--kernel-reps "$reps"); fi
  "$1" bench --analytic-only --kernel-points 1000 "${reps_flag[@]}" | grep analytic
}
lscpu | grep -E "Model name|^CPU\(s\)" || true
for round in $(seq "$rounds"); do
  echo "== round $round"; uptime
  echo "-- before: $before"; timed "$before"
  echo "-- after: $after"; timed "$after"
  echo "-- neural-tangents"; "$py" "$here/nt_reference.py" --reps "$reps" | grep -v "^jax"
done
uptime
echo "== values of $after vs neural-tangents"
"$py" "$here/nt_reference.py" --reps 1 --sgntk "$after"
