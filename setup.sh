#!/usr/bin/env bash
# One-step set-up on a fresh Debian/Ubuntu machine: system tools for RTL (Icarus Verilog, Yosys, Verilator as a
# linter, poppler for PDF checks) and the Python package with all extras. Idempotent: a second run is quick.
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
need_apt=""
for tool in iverilog yosys verilator pdftoppm; do command -v "$tool" >/dev/null 2>&1 || need_apt=1; done
if [ -n "$need_apt" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq iverilog yosys verilator poppler-utils >/dev/null
fi
PY=${PYTHON:-python3}
# A plain `torch` requirement with no torch installed may pull a multi-GB CUDA build; take the local CPU build
# unless the user already has a torch (e.g. a CUDA one on a GPU machine).
"$PY" -c "import torch" >/dev/null 2>&1 || "$PY" -m pip install -q "torch==2.13.0"
"$PY" -m pip install -q -e ".[all]"
