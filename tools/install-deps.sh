#!/usr/bin/env bash
# Installs, with apt-get, the Debian 12 packages a build needs and that are missing.
# Usage: tools/install-deps.sh [package...]   (default: what the tests and examples need)
set -euo pipefail
packages=("$@")
if [ ${#packages[@]} -eq 0 ]; then
  # libclang-rt-14-dev holds clang's sanitizer runtimes: only a Recommends of clang-14.
  # python3-torch, python3-h5py: the release preset runs tools/export_torch.py and
  # tools/keras_h5_to_safetensors.py (tests/export).
  packages=(cmake make ninja-build g++ clang-14 libclang-rt-14-dev xtensor-dev libxsimd-dev catch2
            nlohmann-json3-dev valgrind python3-torch python3-numpy python3-h5py)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
