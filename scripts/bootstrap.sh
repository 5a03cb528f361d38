#!/usr/bin/env bash
# Installs what a command needs into project-local, git-ignored folders, reusing what is there:
# npm packages (node_modules), then the Temporal CLI, MinIO and the native TensorFlow addon (.tools), and with
# `--label-studio` Label Studio (.tools/label-studio, ≈1 GB) and with `--pacs` Orthanc with DICOMweb (.tools/orthanc,
# ≈45 MB of Debian packages): `npm test` and `npm run setup` pass both, `npm run demo` neither (the demo starts
# neither). `bash scripts/bootstrap.sh [--label-studio] [--pacs]`.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "setup error: $*" >&2; exit 1; }

command -v node >/dev/null || fail "Node.js 20+ is not installed (https://nodejs.org)."
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || fail "Node.js $(node --version) is too old; install Node.js 20 or newer."
command -v npm >/dev/null || fail "npm is not installed."

# npm ci only when the lock file changed since the last install.
stamp=node_modules/.echo-al-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[npm] installing packages (npm ci)…"
  # Install scripts are skipped: tfjs-node's would try to download libtensorflow, which scripts/setup-tf.ts
  # handles with an offline fallback; onnxruntime-node's would fetch its CUDA provider from NuGet (its CPU binaries
  # are in the package; a GPU host runs `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node`, a plain
  # `npm install` offline needs ONNXRUNTIME_NODE_INSTALL=skip); the few other packages with scripts are rebuilt
  # just below.
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
    || fail "npm ci failed; check that the npm registry is reachable (npm config get registry)."
  npm rebuild --no-audit --no-fund --loglevel=error protobufjs @swc/core >/dev/null \
    || fail "npm rebuild of protobufjs/@swc/core failed."
  echo "$want" > "$stamp"
fi

npx tsx scripts/setup.ts "$@"
