#!/usr/bin/env bash
# Debian packages the test tiers need; installs only what is missing (CI runs on a clean machine).
set -euo pipefail
need=()
command -v squid >/dev/null 2>&1 || [ -x /usr/sbin/squid ] || need+=(squid)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# dnsmasq-base: the binary alone (no service): a DNS server the Shoal reverse-DNS tests start on a spare port
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
# varnish: the Shoal tests run varnishd in front of a CVMFS and a Frontier origin
command -v varnishd >/dev/null 2>&1 || [ -x /usr/sbin/varnishd ] || need+=(varnish)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# libvirt-dev and pkg-config: libvirt-python builds against them (requirements-libvirt.txt); libvirt-daemon:
# the libvirt tier starts its own libvirtd on a private socket (the package's service is not used)
[ -e /usr/include/libvirt/libvirt.h ] || need+=(libvirt-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
[ -x /usr/sbin/libvirtd ] || need+=(libvirt-daemon)
# qemu-system-x86: the hypervisor behind that libvirtd (KVM where /dev/kvm is usable, else TCG)
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
# qemu-utils: qemu-img, with which libvirtd makes the guests' copy-on-write qcow2 disks (a Recommends of
# qemu-system-x86, which --no-install-recommends leaves out)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
# prometheus and influxdb (1.x): the metrics tiers start their own servers on spare ports and query them
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || need+=(prometheus)
command -v influxd >/dev/null 2>&1 || [ -x /usr/bin/influxd ] || need+=(influxdb)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts squid as a service on install; tests run their own instances on their own ports.
  $SUDO systemctl stop squid >/dev/null 2>&1 || $SUDO service squid stop >/dev/null 2>&1 || pkill -x squid || true
  $SUDO systemctl stop varnish >/dev/null 2>&1 || $SUDO service varnish stop >/dev/null 2>&1 || pkill -x varnishd || true
  for svc in prometheus influxdb; do
    $SUDO systemctl stop $svc >/dev/null 2>&1 || $SUDO service $svc stop >/dev/null 2>&1 || true
  done
  pkill -x prometheus || true; pkill -x influxd || true
fi

# The libvirt tier's libvirtd runs guests as libvirt-qemu in group kvm, the way Debian's
# libvirt-daemon-system sets a host up (that package itself would also make systemd the init: only its
# user, group and /dev/kvm permissions are taken here).
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ -x /usr/sbin/libvirtd ]; then
  getent group kvm >/dev/null || $SUDO groupadd --system kvm
  getent group libvirt-qemu >/dev/null || $SUDO groupadd --system libvirt-qemu
  getent passwd libvirt-qemu >/dev/null || $SUDO useradd --system --no-create-home --home-dir /var/lib/libvirt \
    --shell /usr/sbin/nologin -g libvirt-qemu -G kvm libvirt-qemu
  if [ -c /dev/kvm ]; then $SUDO chgrp kvm /dev/kvm && $SUDO chmod 0660 /dev/kvm; fi
fi
