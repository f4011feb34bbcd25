#!/usr/bin/env bash
# The browser test needs Debian's Chromium (playwright's own browser download cannot work here).
# Install it when it is missing and we are allowed to; otherwise the browser test skips with a reason.
set -u
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser test..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; the browser test will be skipped"
fi
exit 0
