#!/usr/bin/env bash
# Builds the root filesystem of holdfast/base:bookworm in ROOTFS (which must not exist yet):
# a Debian bookworm "minbase" system made by debootstrap, trimmed like the official
# debian:bookworm-slim image, with the host's CA bundle installed so TLS through the
# machine's (possibly intercepting) egress proxy works inside every derived image.
#
#   build-rootfs.sh ROOTFS MIRROR SECURITY_MIRROR|none CA_BUNDLE
#
# Called by deploy/bootstrap.sh, which imports the result with `docker import`.
# Everything in this file is part of the image's holdfast.inputs hash.
set -euo pipefail

rootfs=$1 mirror=$2 security=$3 ca_bundle=$4
suite=bookworm

keyring=()
if [ -r /usr/share/keyrings/debian-archive-keyring.gpg ]; then
	keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
fi

debootstrap --variant=minbase --components=main "${keyring[@]}" "$suite" "$rootfs" "$mirror"

# debootstrap unmounts what it mounted (proc, sys) on success; make sure before deleting.
awk -v r="$rootfs/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
	umount -l "$m"
done

# debootstrap copies the host's resolv.conf/hostname in; Docker provides its own.
rm -f "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"

# Package sources: the release, its updates and (unless disabled) its security archive.
rm -f "$rootfs/etc/apt/sources.list"
{
	printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
		"$mirror" "$suite" "$suite"
	if [ "$security" != none ]; then
		printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
			"$security" "$suite"
	fi
} >"$rootfs/etc/apt/sources.list.d/debian.sources"

# No init system in a container: keep package scripts from trying to start services.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"

# Keep later `apt-get install` layers small (what debian:*-slim and debuerreotype do).
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/holdfast-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
CFG
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
printf 'Acquire::Languages "none";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
# No fsync per unpacked file: an image layer is written once and committed whole, so dpkg's
# crash safety buys nothing here (debian:* images ship the same docker-apt-speedup file).
printf 'force-unsafe-io\n' >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"

# The host's CA bundle (it may include the CA of a TLS-intercepting proxy). A second copy
# under /usr/local/share/ca-certificates survives update-ca-certificates, should a derived
# image install Debian's ca-certificates package later.
install -D -m 0644 "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
install -D -m 0644 "$ca_bundle" "$rootfs/usr/local/share/ca-certificates/holdfast-host-bundle.crt"

# Trim: package lists, caches, logs, docs (copyright files stay), man pages, translations.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
	"$rootfs"/var/log/apt/* "$rootfs"/var/log/*.log "$rootfs"/var/lib/dpkg/*-old \
	"$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
	"$rootfs"/tmp/* "$rootfs"/var/tmp/*
find "$rootfs/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
# Docker supplies /dev; a fresh machine-id per container is the norm for images.
find "$rootfs/dev" -mindepth 1 -delete
: >"$rootfs/etc/machine-id"
