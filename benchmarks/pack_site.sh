#!/usr/bin/env bash
# Pack what a bare GPU image lacks for the GPU rehearsal (Ray, MLflow, DeepSpeed and their needs) into
# .whl/site.tar.xz, for a machine that reaches no package index (an air-gapped node, a lent GPU box):
#   benchmarks/pack_site.sh [python version, default 3.12] [file of package names already there]
# There: mkdir -p /tmp/site && tar -xJf .whl/site.tar.xz -C /tmp/site && export PYTHONPATH=$PWD:/tmp/site
# Versions are this checkout's .venv's (run ./setup.sh first), so both machines run the same Ray/MLflow.
# Parts nothing here imports are left out to stay small (~45 MB): Ray's Java jars, RLlib, Serve, LLM,
# dashboard source maps, MLflow's UI bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
PYV=${1:-3.12}
HAVE=${2:-}
ver() { .venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))"; }
work=$(mktemp -d)
plat=(--platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_24_x86_64
      --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_31_x86_64
      --platform manylinux_2_34_x86_64 --platform manylinux_2_35_x86_64)
python3 -m pip download -q --only-binary=:all: --python-version "$PYV" --implementation cp "${plat[@]}" -d "$work/whl" \
    "ray[default,tune,train]==$(ver ray)" "mlflow==$(ver mlflow)" hjson
.venv/bin/pip wheel -q --no-deps --no-build-isolation "deepspeed==$(ver deepspeed)" -w "$work/whl"  # an sdist: ops JIT-built
rm -f "$work"/whl/{py_spy,virtualenv,python_discovery,distlib}-*.whl
if [ -n "$HAVE" ]; then  # names (one per line) the machine already has: not carried
    python3 - "$work/whl" "$HAVE" <<'PY'
import pathlib, re, sys
norm = lambda s: re.sub(r"[-_.]+", "-", s).lower()
have = {norm(line.strip()) for line in open(sys.argv[2]) if line.strip()}
for wheel in pathlib.Path(sys.argv[1]).glob("*.whl"):
    if norm(wheel.name.split("-")[0]) in have:
        wheel.unlink()
PY
fi
python3 -m pip install -q --no-deps --no-compile --target "$work/site" --python-version "$PYV" --implementation cp \
    "${plat[@]}" --only-binary=:all: "$work"/whl/*.whl
( cd "$work/site" && rm -rf ray/jars ray/rllib ray/serve ray/llm ray/dashboard/client/build/static/js/*.map \
    mlflow/server/js bin && find . -name __pycache__ -prune -exec rm -rf {} + )
mkdir -p .whl
tar -C "$work/site" -cf - . | xz -T2 -6 > .whl/site.tar.xz
rm -rf "$work"
ls -la .whl/site.tar.xz
