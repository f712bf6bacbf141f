#!/bin/bash
# Fetches Debian 13's python3-websockets (15.0.1, pure Python) into build/py-websockets15
# so the Python client is tested against a current websockets as well as Debian 12's
# 10.4: 14+ renamed extra_headers to additional_headers. PyPI is out of reach here;
# deb.debian.org is what apt-get uses. Cached: a second run does nothing.
set -eu
dir=${1:-build/py-websockets15}
deb=python3-websockets_15.0.1-1_amd64.deb
if [ -f "$dir/.done" ]; then exit 0; fi
rm -rf "$dir" && mkdir -p "$dir"
curl -fsS -m 60 -o "$dir/$deb" "http://deb.debian.org/debian/pool/main/p/python-websockets/$deb"
dpkg-deb -x "$dir/$deb" "$dir/root"
rm -f "$dir/$deb"
touch "$dir/.done"
