#!/usr/bin/env bash
# End-to-end test on a real (one-node) Slurm cluster: starts munged, slurmctld and slurmd on this
# machine (installing Debian's slurm-wlm and munge when missing), submits a small Fig. B.2 as 4
# shards through `sgntk slurm`, waits for the assemble job, compares the figure with an unsharded
# local run byte for byte, and stops the daemons. Needs root (or passwordless sudo).
#
#   scripts/slurm-test.sh [path/to/sgntk]     (default: build with cargo, test profile)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/slurm-cluster.sh
source "$root/scripts/slurm-cluster.sh"

sgntk="${1:-}"
if [ -z "$sgntk" ]; then
  target="${CARGO_TARGET_DIR:-$root/target}"
  (cd "$root" && cargo build --workspace --features wgpu --quiet)
  sgntk="$target/debug/sgntk"
fi
sgntk=$(realpath "$sgntk")
start=$(date +%s)
work=$(mktemp -d /tmp/sgntk-slurm-XXXXXX)
trap 'slurm_down; echo "logs kept in $work"' EXIT

cat >"$work/b2.toml" <<'EOF'
[b2]
widths = [16, 48]
nets = 6
steps = 200
chunk = 1
EOF

echo "== local, unsharded"
"$sgntk" figure b2 --config "$work/b2.toml" --out "$work/local" --seed 7 --threads 2 2>/dev/null

echo "== cluster"
slurm_up "$work/cluster"
ids=$("$sgntk" slurm --shards 4 --cpus-per-task 1 figure b2 --config "$work/b2.toml" \
  --out "$work/sharded" --seed 7)
read -r array assemble <<<"$ids"
echo "array job $array, assemble job $assemble"
slurm_wait "$array" 600
slurm_wait "$assemble" 600
state=$(scontrol show job "$assemble" | grep -o 'JobState=[A-Z_]*' | head -n 1)
if [ "$state" != "JobState=COMPLETED" ]; then
  echo "FAIL: assemble job $state" >&2
  cat "$work/sharded/slurm/"*.log >&2 || true
  exit 1
fi
for k in 0 1 2 3; do
  grep -q "shard $k/4 done" "$work/sharded/slurm/task-$k.log" || {
    echo "FAIL: task $k did not finish its shard" >&2
    cat "$work/sharded/slurm/task-$k.log" >&2
    exit 1
  }
done

echo "== compare"
cmp "$work/local/figb2.csv" "$work/sharded/figb2.csv"
python3 - "$work/local/figb2.json" "$work/sharded/figb2.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["summary"] == b["summary"], "summaries differ"
assert a["settings"] == b["settings"], "settings differ"
assert b["trained_chunks"] == 0 and b["resumed_chunks"] == 12, b
print("summary identical; assemble trained 0 chunks and loaded 12")
EOF
echo "PASS: sharded Slurm run == local run ($(($(date +%s) - start)) s)"
