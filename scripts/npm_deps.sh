#!/usr/bin/env bash
# Install node-llama-cpp (llama.cpp's prebuilt CPU binaries for Node) and the official `ollama` client
# into a git-ignored folder of the repo, for the llama.cpp interoperability tests
# (tests/test_llamacpp_interop.sh) and the server tests (tests/test_serve*.sh). Skips when all are
# already there. All packages go in one `npm install`: a --no-save install of one package prunes
# the others from the folder. Only the CPU binary package of this machine is fetched (--omit=optional drops the
# CUDA/Vulkan/other-OS variants; install scripts are not run: nothing is compiled or downloaded
# at run time). Folder: $SLM_NPM_DIR, default build-npm/. Without node/npm or a reachable registry
# it prints why and exits 0: the interop test then skips.
set -uo pipefail
cd "$(dirname "$0")/.."
VERSION=3.21.1
OLLAMA_VERSION=0.6.4
DIR=${SLM_NPM_DIR:-$PWD/build-npm}
case "$(uname -m)" in
  x86_64|amd64) bin=linux-x64 ;;
  aarch64|arm64) bin=linux-arm64 ;;
  *) echo "npm_deps: no prebuilt node-llama-cpp for $(uname -m); skipped"; exit 0 ;;
esac
if [ -f "$DIR/node_modules/node-llama-cpp/package.json" ] && [ -d "$DIR/node_modules/@node-llama-cpp/$bin" ] &&
   grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/node-llama-cpp/package.json" &&
   [ -f "$DIR/node_modules/ollama/package.json" ] &&
   grep -q "\"version\": \"$OLLAMA_VERSION\"" "$DIR/node_modules/ollama/package.json"; then
  exit 0
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "npm_deps: node/npm not installed; llama.cpp interop tests will skip"; exit 0
fi
mkdir -p "$DIR"
# Its own package.json keeps npm from installing into a parent folder's project.
[ -f "$DIR/package.json" ] || echo '{"private": true}' >"$DIR/package.json"
echo "npm_deps: installing node-llama-cpp@$VERSION (+ @node-llama-cpp/$bin), ollama@$OLLAMA_VERSION into $DIR"
if ! (cd "$DIR" && timeout 600 npm install --no-audit --no-fund --no-save --omit=optional --ignore-scripts \
        "node-llama-cpp@$VERSION" "@node-llama-cpp/$bin@$VERSION" "ollama@$OLLAMA_VERSION" >npm-install.log 2>&1); then
  echo "npm_deps: npm install failed (registry unreachable?), see $DIR/npm-install.log; interop tests will skip"
  exit 0
fi
