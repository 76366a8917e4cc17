#!/usr/bin/env bash
# Installs the S3-compatible server that the coordination board's tests start on loopback: moto's server from
# PyPI, versions pinned in scripts/s3-server-requirements.txt, in a virtual environment inside the project
# (.venv/, gitignored). Run by `npm test`; the tests start and stop the server themselves.
# The same venv has the AWS CLI (pip's awscli, pinned there too): the AWS platform's gate, pre-flight and stop
# commands are tested against moto's server through the exact command text, with the venv's `aws`.
# Idempotent: with nothing changed it only compares a stamp (well under a second).
# FLAGDAY_PYTHON picks the interpreter (default python3, 3.9 or newer).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
REQS="$ROOT/scripts/s3-server-requirements.txt"
STAMP="$VENV/.flagday-s3-server"
PYTHON="${FLAGDAY_PYTHON:-python3}"

step() { printf '[s3-server] %s\n' "$*" >&2; }
die() {
  printf '[s3-server] error: %s\n' "$*" >&2
  exit 1
}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  die "$PYTHON is not installed. The coordination board's S3 tests run moto's S3 server from PyPI in a \
virtual environment: install Python 3 with venv (Debian: apt-get install python3 python3-venv) and run \
'bash scripts/setup-s3-server.sh' again."
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null; then
  die "$("$PYTHON" --version 2>&1) is too old: moto's server needs Python 3.9 or newer (set FLAGDAY_PYTHON)."
fi

# What the environment was built from: the pinned requirements and the interpreter.
want="$(sha256sum <"$REQS" | cut -c1-16)-$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
if [ -x "$VENV/bin/moto_server" ] && [ -x "$VENV/bin/aws" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  step "moto server: up to date ($VENV)"
  exit 0
fi

# Anything else (first run, new pins, another interpreter, an interrupted install) starts from a fresh venv.
start=$(date +%s)
step "creating the virtual environment $VENV..."
rm -rf "$VENV"
if ! "$PYTHON" -m venv "$VENV" >&2; then
  rm -rf "$VENV"
  die "'$PYTHON -m venv' failed: install the venv module (Debian: apt-get install python3-venv) and run \
'bash scripts/setup-s3-server.sh' again."
fi
step "installing moto's S3 server from PyPI (pinned in scripts/s3-server-requirements.txt)..."
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet -r "$REQS" >&2; then
  die "pip could not install scripts/s3-server-requirements.txt into $VENV: check that PyPI is reachable \
(pip's own message is above), then run 'bash scripts/setup-s3-server.sh' again."
fi
"$VENV/bin/moto_server" --help >/dev/null || die "moto_server does not run in $VENV: remove $VENV and run again."
"$VENV/bin/aws" --version >/dev/null 2>&1 || die "the aws CLI does not run in $VENV: remove $VENV and run again."
echo "$want" >"$STAMP"
step "moto server: installed in $(($(date +%s) - start)) s ($VENV)"
