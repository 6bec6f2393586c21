#!/usr/bin/env bash
# Installs Debian's headless Chromium for the browser tests when it is missing and we may.
set -u
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
  echo "chromium is not installed and cannot be installed here: browser tests will be skipped" >&2
  exit 1
fi
echo "installing chromium and chromium-driver from Debian packages..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq chromium chromium-driver >/dev/null
[ -x /usr/bin/chromium ]
