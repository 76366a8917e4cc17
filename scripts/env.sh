# Sourced by the project's scripts: runs the Pulumi engine offline against this checkout, with no cloud account.
# State lives in a local file backend and PULUMI_HOME in gitignored folders of the project.
FLAGDAY_ROOT="${FLAGDAY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export FLAGDAY_ROOT
export PATH="$FLAGDAY_ROOT/.engine/bin:$FLAGDAY_ROOT/bin:$FLAGDAY_ROOT/node_modules/.bin:$PATH"
export PULUMI_HOME="${PULUMI_HOME:-$FLAGDAY_ROOT/.pulumi-home}"
# metadata=skip: no sidecar .attrs file (with an MD5 of the whole state) beside every state save; nothing reads it
# (rehearsal/run.ts fileBackendUrl).
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$FLAGDAY_ROOT/.pulumi-state?metadata=skip}"
export PULUMI_SKIP_UPDATE_CHECK=true
# A flag day's node stages run on every node at once; the CLI's default (4 x cores, so 8 here) would run a
# 10-node network's stops, snapshots and starts in rounds and stretch the downtime.
export PULUMI_PARALLEL="${PULUMI_PARALLEL:-64}"
# `npm test` type-checks the whole project once; programs run transpile-only so an update starts quickly.
export PULUMI_NODEJS_TRANSPILE_ONLY="${PULUMI_NODEJS_TRANSPILE_ONLY:-true}"
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK="${PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK:-false}"
# The rehearsal stack's passphrase only protects simulated secrets on this machine. Real stacks (testnet,
# mainnet) must use their own passphrase or a KMS secrets provider: see README.md.
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-flagday-rehearsal-only}"
mkdir -p "$PULUMI_HOME"
case "$PULUMI_BACKEND_URL" in
  file://*) state_dir="${PULUMI_BACKEND_URL#file://}" && mkdir -p "${state_dir%%\?*}" && unset state_dir ;;
esac
