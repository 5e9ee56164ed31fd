# Sourced by the llama.cpp comparison tests (test_llamacpp_interop.sh, test_arch_llamacpp.sh):
# finds node-llama-cpp ($NLC_DIR, else $SLM_NPM_DIR or build-npm/, installed by scripts/npm_deps.sh
# when missing) and sets NLC, or exits 0 with SKIP when node or the package is unavailable; defines
# step (run a command, print its log and set fail=1 when it fails). Needs SRC and TMP.
if ! command -v node >/dev/null 2>&1; then echo "SKIP: node is not installed"; exit 0; fi
has_nlc() { [ -n "$1" ] && [ -f "$1/node_modules/node-llama-cpp/dist/index.js" ]; }
NLC=${NLC_DIR:-}
if ! has_nlc "$NLC"; then
  NLC=${SLM_NPM_DIR:-$SRC/build-npm}
  has_nlc "$NLC" || SLM_NPM_DIR=$NLC bash "$SRC/scripts/npm_deps.sh"
  if ! has_nlc "$NLC"; then echo "SKIP: node-llama-cpp unavailable (no NLC_DIR, npm install failed)"; exit 0; fi
fi

fail=0
step() { # description, command...
  local what=$1; shift
  if ! "$@" >"$TMP/step.log" 2>&1; then echo "FAIL: $what"; cat "$TMP/step.log"; fail=1; return 1; fi
}
