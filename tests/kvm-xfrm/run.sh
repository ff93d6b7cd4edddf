#!/bin/bash
# run.sh — boot Debian's stock kernel (linux-image-amd64: has esp4, ip_vti,
# xfrm_interface as modules) under qemu-system-x86_64 (KVM where it really
# works, else TCG software emulation), from a tiny busybox initramfs, and run a
# kernel-IPsec test script inside it. Measured on a 2-core Firecracker guest
# (TCG): ~13 s wall for boot + full test-xfrm.sh, qemu max RSS ~330 MiB;
# first run +~6 s (kernel .deb download/extract, initramfs build).
#
# Why: the host/CI kernel (Firecracker guest 6.18) lacks CONFIG_INET_ESP,
# CONFIG_NET_IPVTI, CONFIG_XFRM_INTERFACE, so kernel ESP/VTI can only be tested
# in a VM with another kernel. Nothing here touches the host's own kernel:
# the Debian kernel .deb is downloaded and *extracted* (not installed).
#
# Copied into the rvpn repository from the team's shared kvm-xfrm kit
# (tests/kernel_xfrm.rs runs it with test-rvpn-kernel.sh); changes from the
# kit: chacha20-poly1305 modules, a per-run share directory and console log
# (KVMXFRM_SHARE, KVMXFRM_LOG), an initramfs cache keyed by its contents,
# and a lock around the build steps so that parallel runs do not collide.
#
# Usage:
#   run.sh [TEST_SCRIPT]          default TEST_SCRIPT = ./test-rvpn-kernel.sh
# Environment knobs:
#   KVMXFRM_WORK=/var/tmp/kvm-xfrm  build dir (kernel, rootfs, initrd, logs, 9p share)
#   KVMXFRM_ACCEL=auto|kvm|tcg      auto = kvm if cpuinfo has vmx/svm and /dev/kvm
#                                   opens, else tcg (see PVM pitfall below)
#   KVMXFRM_MEM=256                 guest RAM in MiB (test uses ~25 MiB)
#   KVMXFRM_SMP=1                   guest vCPUs
#   KVMXFRM_9P=1                    1: hand TEST_SCRIPT (and anything placed in
#                                   $KVMXFRM_WORK/share) to the guest via a
#                                   virtio-9p share mounted at /host (guest can
#                                   also write results there); 0: bake the test
#                                   into the initramfs as /test.sh instead
#   KVMXFRM_HOSTROOT=0              1: also share the host's / read-only (tag
#                                   "hostroot", mounted at /hostroot in the guest)
#   KVMXFRM_TIMEOUT=120             hard wall-clock limit for qemu (s)
#   KVMXFRM_REBUILD=0               1: rebuild initramfs even if present
#   KVMXFRM_SHARE=$WORK/share       the 9p share directory of this run
#   KVMXFRM_LOG=$KVMXFRM_SHARE/console.log   where the console goes
# Exit status: the test script's exit status inside the VM (KVMXFRM-RC=N on
# the console), 125 if the VM produced no result.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TEST=$(readlink -f "${1:-$HERE/test-rvpn-kernel.sh}")
WORK=${KVMXFRM_WORK:-/var/tmp/kvm-xfrm}
ACCEL=${KVMXFRM_ACCEL:-auto}
MEM=${KVMXFRM_MEM:-256}
SMP=${KVMXFRM_SMP:-1}
USE9P=${KVMXFRM_9P:-1}
TMO=${KVMXFRM_TIMEOUT:-120}
REBUILD=${KVMXFRM_REBUILD:-0}
# Modules wanted in the guest; dependencies are resolved automatically.
# Crypto: rfc4106(gcm(aes)) = gcm + ghash + aes(ni) + ctr; seqiv/echainiv IV
# generators need the default RNG ("stdrng"), which is a MODULE in Debian
# (CONFIG_CRYPTO_RNG_DEFAULT=m): drbg + jitterentropy_rng + sha512. Without them
# "ip xfrm state add ... aead rfc4106(gcm(aes))" fails with "Kernel was unable
# to initialize cryptographic operations". Netfilter NAT (iptables-nft or
# iptables-legacy from the host root) for the NAT rebinding stage.
MODS="esp4 esp6 ip_vti ip6_vti xfrm_interface xfrm_user veth
      jitterentropy_rng sha512_generic drbg
      aesni_intel gcm ghash_clmulni_intel ghash_generic ctr seqiv echainiv
      authenc authencesn cryptd cmac
      chacha20poly1305 chacha_generic poly1305_generic
      nf_conntrack nf_nat nf_tables nft_compat nft_chain_nat nft_nat nft_masq
      iptable_nat xt_MASQUERADE xt_nat xt_tcpudp
      virtio_pci 9pnet_virtio 9p"

log() { echo "[run.sh] $*" >&2; }
mkdir -p "$WORK"
# One build at a time (packages, kernel extraction, initramfs); the lock is
# released before booting.
exec 9>"$WORK/.build.lock"
flock 9

# ---------------------------------------------------------------- 1. packages
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' \
    || need+=(busybox-static)
command -v cpio >/dev/null   || need+=(cpio)
command -v depmod >/dev/null || need+=(kmod)
command -v ip >/dev/null     || need+=(iproute2)
command -v file >/dev/null   || need+=(file)
if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    apt-get update -qq
    # --no-install-recommends keeps qemu small (no GUI / ipxe needed: -nic none)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
    # busybox-static may have been installed after the 'file' check above
    file -L /bin/busybox | grep -q 'statically linked' || { log "need static busybox"; exit 1; }
fi

# ----------------------------------------------- 2. Debian kernel (extracted)
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
if [ -z "$KPKG" ] && [ "$(id -u)" -eq 0 ]; then
    # A fresh machine may have no package lists yet.
    apt-get update -qq
    KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
fi
[ -n "$KPKG" ] || { log "cannot resolve linux-image-amd64 (apt-get update?)"; exit 1; }
KVER=${KPKG#linux-image-}
KROOT=$WORK/kernel-$KVER
if [ ! -f "$KROOT/boot/vmlinuz-$KVER" ]; then
    log "downloading + extracting $KPKG (not installing it)"
    rm -rf "$KROOT" && mkdir -p "$KROOT"
    ( cd "$WORK" && apt-get download -q "$KPKG" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true )
    dpkg-deb -x "$WORK/${KPKG}"_*.deb "$KROOT"
    # the .deb ships no modules.dep (postinst runs depmod); generate it here
    depmod -b "$KROOT" "$KVER"
fi
KMOD=$KROOT/lib/modules/$KVER

# ---------------------------------------------------------- 3. initramfs
# Cached per content: module list, init.sh and (without 9p) the test.
KEY=$( { echo "$MODS" "$USE9P"; cat "$HERE/init.sh"; if [ "$USE9P" = 0 ]; then cat "$TEST"; fi; } | md5sum | cut -c1-10)
RFS=$WORK/rootfs-$KEY
INITRD=$WORK/initrd-$KVER-$KEY.img
if [ "$REBUILD" = 1 ] || [ ! -f "$INITRD" ]; then
    log "building initramfs"
    rm -rf "$RFS"
    mkdir -p "$RFS"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,etc,proc,sys,dev,run,tmp,host}
    cp /bin/busybox "$RFS/bin/busybox"
    for app in $(/bin/busybox --list); do
        case $app in busybox) continue;; esac
        ln -sf /bin/busybox "$RFS/bin/$app"
    done
    ln -sf /bin/busybox "$RFS/sbin/modprobe"      # kernel's request_module() helper
    ln -sf /bin/busybox "$RFS/sbin/insmod"
    # Real iproute2 (busybox 'ip' lacks xfrm/vti/netns) + its shared libraries,
    # copied from the host (Debian 12 ip works fine on the 6.1 guest kernel).
    IPBIN=$(command -v ip)
    cp -L "$IPBIN" "$RFS/sbin/ip"; rm -f "$RFS/bin/ip"; ln -s /sbin/ip "$RFS/bin/ip"
    for lib in $(ldd "$IPBIN" | grep -o '/[^ ]*\.so[^ ]*'); do
        mkdir -p "$RFS$(dirname "$lib")"
        cp -L "$lib" "$RFS$lib"
    done
    # Kernel modules: dependency closure, in load order, via host kmod.
    : > "$RFS/modules.load"
    for m in $MODS; do
        modprobe -d "$KROOT" -S "$KVER" --show-depends "$m" | awk '$1=="insmod"{print $2}'
    done | awk '!seen[$0]++' | while read -r ko; do
        rel=${ko#"$KROOT"}
        mkdir -p "$RFS$(dirname "$rel")"
        cp "$ko" "$RFS$rel"
        echo "$rel" >> "$RFS/modules.load"
    done
    cp "$KMOD"/modules.builtin* "$KMOD"/modules.order "$RFS/lib/modules/$KVER/" 2>/dev/null || true
    depmod -b "$RFS" "$KVER"       # so busybox modprobe can resolve crypto-* aliases
    install -m 755 "$HERE/init.sh" "$RFS/init"
    install -m 755 "$TEST" "$RFS/test.sh"
    echo "root:x:0:0:root:/:/bin/sh" > "$RFS/etc/passwd"
    ( cd "$RFS" && find . | cpio -o -H newc --quiet | gzip -1 ) > "$INITRD.tmp"
    mv "$INITRD.tmp" "$INITRD"
    log "initramfs $(du -h "$INITRD" | cut -f1), $(wc -l < "$RFS/modules.load") modules"
fi
flock -u 9

# ------------------------------------------------------------------ 4. boot
if [ "$ACCEL" = auto ]; then
    # KVM only if the CPU really exposes VMX/SVM (nested HW virt) *and* qemu can
    # open KVM. Pitfall seen on Firecracker guests: /dev/kvm exists but is
    # provided by kvm_pvm (PVM, software nested virt, no vmx/svm in cpuinfo);
    # it opens fine, but "-cpu host" aborts (failed to set MSR 0x10a) and the
    # stock Debian kernel hangs right after SeaBIOS ("Probing EDD"). Use TCG there.
    if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ] &&
       echo quit | timeout 20 qemu-system-x86_64 -accel kvm -M none -nodefaults \
           -display none -monitor stdio >/dev/null 2>&1; then ACCEL=kvm; else ACCEL=tcg; fi
fi
if [ "$ACCEL" = kvm ]; then ACC=(-accel kvm -cpu host); else ACC=(-accel "tcg,tb-size=${KVMXFRM_TB_MB:-128}" -cpu max); fi   # default TCG code cache (1 GiB) dominates RSS

QARGS=(-nographic -no-reboot -nic none -m "$MEM" -smp "$SMP" "${ACC[@]}"
       -kernel "$KROOT/boot/vmlinuz-$KVER" -initrd "$INITRD"
       -append "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=4 mitigations=off")
SHARE=${KVMXFRM_SHARE:-$WORK/share}
if [ "$USE9P" = 1 ]; then
    mkdir -p "$SHARE"; rm -f "$SHARE/rc"
    cp "$TEST" "$SHARE/test.sh"
    # security_model=none: guest sees host uids/modes as-is (we are root anyway)
    QARGS+=(-virtfs "local,path=$SHARE,mount_tag=host0,security_model=none,id=host0")
fi

if [ "${KVMXFRM_HOSTROOT:-0}" = 1 ]; then
    QARGS+=(-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap,id=hostroot")
fi

LOG=${KVMXFRM_LOG:-$SHARE/console.log}
mkdir -p "$(dirname "$LOG")"
log "booting $KVER accel=$ACCEL mem=${MEM}M 9p=$USE9P  (console -> $LOG)"
t0=$(date +%s.%N)
set +e
# GNU time (if present) reports qemu's max RSS = host memory cost of the VM
TIMEF=$(dirname "$LOG")/time.txt
rm -f "$TIMEF"
if [ -x /usr/bin/time ]; then TIMECMD=(/usr/bin/time -f "%e %M" -o "$TIMEF"); else TIMECMD=(); fi
"${TIMECMD[@]}" timeout "$TMO" qemu-system-x86_64 "${QARGS[@]}" </dev/null 2>&1 | tr -d '\r' | tee "$LOG"
set -e
t1=$(date +%s.%N)

rc=$(sed -n 's/^KVMXFRM-RC=\([0-9]*\).*/\1/p' "$LOG" | tail -1)
[ -n "$rc" ] || rc=125
rss=""; [ -f "$TIMEF" ] && rss=" qemu_maxrss=$(tail -1 "$TIMEF" | awk '{print int($2/1024)}')MiB"
log "RESULT rc=$rc accel=$ACCEL wall=$(echo "$t1 - $t0" | bc 2>/dev/null || awk "BEGIN{print $t1-$t0}")s$rss"
exit "$rc"
