#!/usr/bin/env bash
# The OCI image that containers/Containerfile.* start FROM, made from Debian packages alone (no container
# registry is needed): debootstrap a minimal bookworm with Python 3.11 and venv, then `podman import` the folder.
# Needs root (debootstrap), debootstrap and podman. About 2 min and 300 MB here.
#
#   containers/build-base-image.sh [IMAGE] [MIRROR]
#   IMAGE  default localhost/labdata-debian:bookworm (the Containerfiles' BASE argument)
#   MIRROR default http://deb.debian.org/debian
set -euo pipefail
image=${1:-localhost/labdata-debian:bookworm}
mirror=${2:-http://deb.debian.org/debian}
root=$(mktemp -d "${TMPDIR:-/var/tmp}/labdata-rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT

# minbase: apt, dpkg and essentials only; python3-venv brings ensurepip (pip inside a venv)
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$mirror"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | podman import --change 'ENV LC_ALL=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$image"
echo "built $image"
