#!/bin/sh
# /init of the kernel WireGuard test's initramfs (see artefacts.ts): mount the basics, load
# WireGuard's modules in dependency order, run the guest test, print how it ended, power off.
export PATH=/usr/sbin:/usr/bin:/bin
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
# Busybox applets for everything the real binaries (node, ip, wg) do not provide.
for a in $(/bin/busybox --list); do [ -e "/bin/$a" ] || [ -e "/usr/bin/$a" ] || [ -e "/usr/sbin/$a" ] || /bin/busybox ln -s busybox "/bin/$a"; done
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
for m in libchacha chacha-x86_64 poly1305-x86_64 libchacha20poly1305 udp_tunnel ip6_udp_tunnel libcurve25519-generic curve25519-x86_64 wireguard; do
  insmod "/modules/$m.ko" || echo "WIREMESH-QEMU-INSMOD-FAILED $m"
done
ip link set lo up
cd /app && node guest.mjs
echo "WIREMESH-QEMU-EXIT $?"
poweroff -f
