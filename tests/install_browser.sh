#!/usr/bin/env bash
# A headless browser for the feature-browser test (tests/test_pages.py), which skips without one.
# Installs Debian's chromium (about 15 s, no recommended packages) where apt-get can run as root;
# elsewhere it only says so.
set -u
for browser in chromium chromium-browser google-chrome; do
    if command -v "$browser" >/dev/null; then echo "browser: $(command -v "$browser")"; exit 0; fi
done
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "no browser and no root apt-get: the headless browser test will be skipped"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; } \
    || echo "installing chromium failed: the headless browser test will be skipped"
command -v chromium >/dev/null && echo "browser: $(command -v chromium)"
exit 0
