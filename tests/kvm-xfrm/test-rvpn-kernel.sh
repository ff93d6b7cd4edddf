#!/bin/sh
# rvpnd's kernel data plane against strongSwan's kernel ESP, inside the
# kvm-xfrm VM (a kernel with esp4, xfrm_interface; run.sh boots it). Run as
#   KVMXFRM_HOSTROOT=1 tests/kvm-xfrm/run.sh tests/kvm-xfrm/test-rvpn-kernel.sh
# with a file "params" next to the script in the 9p share that sets
# RVPND=/abs/path/rvpnd and VTYSH=/abs/path/vtysh, optionally KXTEST=the
# tests/kernel_xfrm.rs test binary (its live_backend_in_this_kernel test
# drives the backend command by command in namespaces kxla/kxlb) (host paths: the host's
# root is mounted read-only at /hostroot and this script chroots into it).
# tests/kernel_xfrm.rs does all that.
#
# Topology (network namespaces, all inside the VM):
#
#   kxa (host A)        kxr (rvpnd)                kxs (charon)             kxb (host B)
#   a0 10.1.0.2 ---- r0 10.1.0.1                   s0 10.2.0.1 ---------- b0 10.2.0.2
#                       r1 192.0.2.1    ---------- s1 192.0.2.2
#                          198.51.100.1                198.51.100.2
#                          203.0.113.1                 203.0.113.2
#   Tunnel1 169.254.100.1/30  AES-GCM-256, raw ESP        ipsec1 (xfrm if_id 41)
#   Tunnel2 169.254.101.1/30  ChaCha20-Poly1305, ESP in UDP (strongSwan encap=yes)  ipsec2
#   Tunnel3 169.254.102.1/30  AES-CBC-256 + HMAC-SHA-256, raw ESP                  ipsec3
#   10.2.0.0/24 via Tunnel1 on rvpn, 10.1.0.0/24 via ipsec1 on strongSwan.
#
# A last stage puts strongSwan behind a NAT (namespaces kxn, kxt) and
# changes the NAT's mapping under a ping; see "NAT rebinding" below.
#
# Prints PASS/FAIL lines and METRIC lines; exit status = number of failures.

R=/hostroot
if [ "$1" != inner ]; then
    # Stage 1, busybox sh in the VM: give the read-only host root its own
    # proc/sys/dev and writable tmpfs, then continue inside it with bash.
    grep -q " $R 9p " /proc/mounts || { echo "FAIL hostroot not mounted (KVMXFRM_HOSTROOT=1)"; exit 1; }
    mount -t proc proc $R/proc
    mount -t sysfs sys $R/sys
    mount -o bind /dev $R/dev
    for d in run tmp var/tmp var/lib/strongswan; do
        [ -d $R/$d ] && [ ! -L $R/$d ] && mount -t tmpfs tmp $R/$d
    done
    mkdir -p $R/tmp/host && mount -o bind /host $R/tmp/host
    exec chroot $R /bin/bash /tmp/host/test.sh inner
fi

# ---------------------------------------------------------------- stage 2
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
# shellcheck disable=SC1091
[ -f /tmp/host/params ] && . /tmp/host/params
: "${RVPND:?params must set RVPND}" "${VTYSH:?params must set VTYSH}"
W=/tmp/kx
mkdir -p $W
T0=$(date +%s.%N)
fail=0
now() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
stage() { echo "== [$(now)s] $*"; }
pass() { echo "PASS $*"; }
bad() { echo "FAIL $*"; fail=$((fail+1)); }
check() { n=$1; shift; if "$@"; then pass "$n"; else bad "$n"; fi; }
# wait_until SECONDS CMD...: poll every 0.2 s
wait_until() {
    local end=$(( $(date +%s) + $1 )); shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -ge $end ] && return 1
        sleep 0.2
    done
}
ns() { local n=$1; shift; ip netns exec "$n" "$@"; }

PSK=kvm-xfrm-test-psk-0123456789abcdef
RVPN_REQ=0x7276         # rvpn's reqids: 0x7276xxxx
RVPN_PRIO=5396048       # rvpn's policy priority (0x525650)

# rvpn's view of the kernel: one line per ESP state:
#   src dst spi reqid bytes packets
sa_table() {
    ip -n "$1" -s xfrm state | awk '
        /^src /{src=$2; dst=$4}
        /proto esp spi/{for(i=1;i<=NF;i++){
            if($i=="spi"){s=$(i+1); sub(/\(.*/,"",s)}
            if($i=="reqid"){r=$(i+1); sub(/.*\(/,"",r); sub(/\).*/,"",r)}}}
        /lifetime current:/{getline; gsub(/[(),]/," "); print src, dst, s, r, $1, $3}'
}
rvpn_sas() { sa_table kxr | awk -v p="$RVPN_REQ" 'index($4,p)==1'; }
rvpn_sa_count() { rvpn_sas | wc -l; }
rvpn_policy_count() { ip -n kxr xfrm policy | grep -c "priority $RVPN_PRIO "; }
rvpn_links() { ip -n kxr -o link show | grep -o 'Tunnel[0-9]*' | sort -u | tr '\n' ' '; }
link_up() { ip -n kxr link show "$1" 2>/dev/null | grep -q '[<,]UP[,>]'; }
# packets of rvpn's states to (out) or from (in) an outer address
pkts_to() { rvpn_sas | awk -v d="$1" '$2==d{n+=$6} END{print n+0}'; }
pkts_from() { rvpn_sas | awk -v s="$1" '$1==s{n+=$6} END{print n+0}'; }

cleanup() {
    [ -n "${RVPN_PID:-}" ] && kill -9 "$RVPN_PID" 2>/dev/null
    [ -n "${SWAN_PID:-}" ] && kill "$SWAN_PID" 2>/dev/null
    for n in kxa kxr kxs kxb kxn kxt kxla kxlb; do ip netns del $n 2>/dev/null; done
}
trap cleanup EXIT

# ---------------------------------------------------------------- topology
stage "topology"
for n in kxa kxr kxs kxb; do ip netns add $n; ip -n $n link set lo up; done
ip link add a0 netns kxa type veth peer name r0 netns kxr
ip link add r1 netns kxr type veth peer name s1 netns kxs
ip link add s0 netns kxs type veth peer name b0 netns kxb
ip -n kxa addr add 10.1.0.2/24 dev a0
ip -n kxr addr add 10.1.0.1/24 dev r0
for i in 192.0.2 198.51.100 203.0.113; do
    ip -n kxr addr add $i.1/24 dev r1
    ip -n kxs addr add $i.2/24 dev s1
done
ip -n kxs addr add 10.2.0.1/24 dev s0
ip -n kxb addr add 10.2.0.2/24 dev b0
for l in kxa:a0 kxr:r0 kxr:r1 kxs:s1 kxs:s0 kxb:b0; do ip -n ${l%:*} link set ${l#*:} up; done
ip -n kxa route add default via 10.1.0.1
ip -n kxb route add default via 10.2.0.1
for n in kxr kxs; do
    ns $n sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
stage "namespaces and links ready"
check "plain ping rvpn -> strongSwan" ns kxr ping -c 1 -W 2 -q 192.0.2.2

# Things rvpn must never touch: another xfrm interface, state and policy.
ip -n kxr link add foreign0 type xfrm if_id 99
ip -n kxr xfrm state add src 192.0.2.1 dst 192.0.2.99 proto esp spi 0x4242 reqid 7 mode tunnel \
    aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f1011121314 128 if_id 99
ip -n kxr xfrm policy add dir out src 10.99.0.0/16 dst 10.98.0.0/16 \
    tmpl src 192.0.2.1 dst 192.0.2.99 proto esp reqid 7 mode tunnel if_id 99
foreign_intact() {
    ip -n kxr link show foreign0 >/dev/null 2>&1 &&
    ip -n kxr xfrm state get src 192.0.2.1 dst 192.0.2.99 proto esp spi 0x4242 >/dev/null 2>&1 &&
    ip -n kxr xfrm policy get dir out src 10.99.0.0/16 dst 10.98.0.0/16 if_id 99 >/dev/null 2>&1
}
check "foreign state/policy/interface planted" foreign_intact
stage "foreign objects planted"

# -------------------------------------------------------------- strongSwan
stage "strongSwan (kernel-netlink, xfrm interfaces)"
S=$W/swan; mkdir -p $S
cat > $S/strongswan.conf <<EOF
charon {
  load = random nonce aes sha1 sha2 hmac gcm chapoly openssl curve25519 kdf kernel-netlink socket-default vici
  install_routes = no
  install_virtual_ip = no
  retransmit_tries = 3
  retransmit_timeout = 1.0
  filelog {
    log {
      path = $S/charon.log
      time_format = %H:%M:%S
      ike_name = yes
      flush_line = yes
      default = 1
      ike = 2
      knl = 2
    }
  }
  syslog { daemon { default = -1 } }
  plugins { vici { socket = unix://$S/charon.vici } }
}
EOF
swan_conn() { # n local remote esp encap traffic-selectors
cat <<EOF
  t$1 {
    version = 2
    local_addrs = $2
    remote_addrs = $3
    proposals = aes256gcm16-prfsha384-x25519
    encap = $5
    mobike = no
    local { auth = psk
            id = swan$1.test }
    remote { auth = psk
             id = rvpn.test }
    children {
      net$1 {
        mode = tunnel
        local_ts = $6
        remote_ts = $6
        esp_proposals = $4
        if_id_in = 4$1
        if_id_out = 4$1
        start_action = none
      }
    }
  }
EOF
}
{
    echo "connections {"
    swan_conn 1 192.0.2.2 192.0.2.1 aes256gcm16 no 0.0.0.0/0,::/0
    swan_conn 2 198.51.100.2 198.51.100.1 chacha20poly1305 yes 0.0.0.0/0
    # strongSwan prefers ESN on Tunnel3: rvpn offers none, so the first SA
    # has none, and a rekey strongSwan starts gets it.
    swan_conn 3 203.0.113.2 203.0.113.1 aes256-sha256-esn-noesn no 0.0.0.0/0
    echo "}"
    echo "secrets {"
    for i in 1 2 3; do
        echo "  ike-$i { id-1 = swan$i.test
           id-2 = rvpn.test
           secret = \"$PSK\" }"
    done
    echo "}"
} > $S/swanctl.conf
for i in 1 2 3; do
    ip -n kxs link add ipsec$i type xfrm if_id 4$i
    ip -n kxs addr add 169.254.10$((i-1)).2/30 dev ipsec$i
    ip -n kxs link set ipsec$i up
done
ip -n kxs addr add 2001:db8:100::2/64 dev ipsec1
ip -n kxs route add 10.1.0.0/24 dev ipsec1
STRONGSWAN_CONF=$S/strongswan.conf ip netns exec kxs /usr/lib/ipsec/charon >$S/charon.out 2>&1 &
SWAN_PID=$!
swanctl() { local c=$1; shift; command swanctl "$c" --uri unix://$S/charon.vici "$@"; }
if wait_until 20 test -S $S/charon.vici && wait_until 10 swanctl --stats; then
    pass "charon up"
else
    bad "charon up"; cat $S/charon.out $S/charon.log 2>/dev/null | tail -20
fi
check "swanctl loads the connections" swanctl --load-all --file $S/swanctl.conf

# ------------------------------------------------------------------ rvpnd
stage "rvpnd --dataplane kernel"
{
    cat <<EOF
hostname rvpn-kvm
crypto ikev2 proposal P
 encryption aes-gcm-256
 prf sha384
 group 31
!
crypto ikev2 keyring K
EOF
    for i in 1 2 3; do
        a=$(echo "192.0.2 198.51.100 203.0.113" | cut -d' ' -f$i)
        printf ' peer swan%s\n  address %s.2\n  identity fqdn swan%s.test\n  pre-shared-key 0 %s\n' $i $a $i "$PSK"
    done
    printf '!\n'
    printf 'crypto ipsec transform-set TS1 esp-gcm 256\n!\n'
    printf 'crypto ipsec transform-set TS2 esp-chacha20-poly1305\n!\n'
    printf 'crypto ipsec transform-set TS3 esp-aes 256 esp-sha256-hmac\n!\n'
    for i in 1 2 3; do
        a=$(echo "192.0.2 198.51.100 203.0.113" | cut -d' ' -f$i)
        cat <<EOF
crypto ikev2 profile PROF$i
 match identity remote fqdn swan$i.test
 identity local fqdn rvpn.test
 authentication local pre-share
 authentication remote pre-share
 keyring local K
 proposal P
!
crypto ipsec profile IPS$i
 set transform-set TS$i
 set ikev2-profile PROF$i
EOF
        # Tunnel1 rekeys on its own every ~17-18 s; Tunnel2 at 90% of
        # 2560 KiB (the smallest volume lifetime IOS takes).
        [ $i = 1 ] && echo " set security-association lifetime seconds 20"
        [ $i = 2 ] && echo " set security-association lifetime kilobytes 2560"
        cat <<EOF
!
interface Tunnel$i
 ip address 169.254.10$((i-1)).1/30
EOF
        [ $i = 1 ] && echo " ipv6 address 2001:db8:100::1/64"
        cat <<EOF
 tunnel source $a.1
 tunnel destination $a.2
 tunnel protection ipsec profile IPS$i
!
EOF
    done
} > $W/rvpnd.conf

vty() { "$VTYSH" --socket $W/rvpnd.sock "$@"; }
start_rvpnd() {
    rm -f $W/rvpnd.sock
    echo "---- rvpnd start $(now)s" >> $W/rvpnd.log
    ip netns exec kxr env RUST_LOG=info,rvpnd=debug "$RVPND" -f $W/rvpnd.conf \
        --socket $W/rvpnd.sock --dataplane kernel >> $W/rvpnd.log 2>&1 &
    RVPN_PID=$!
    wait_until 30 vty -c 'show version'
}
tunnels_up() { link_up Tunnel1 && link_up Tunnel2 && link_up Tunnel3; }
routes() { ip -n kxr route replace 10.2.0.0/24 dev Tunnel1; }

if start_rvpnd; then pass "rvpnd answers vtysh"; else bad "rvpnd answers vtysh"; fi
check "show version says kernel" sh -c "\"$VTYSH\" --socket $W/rvpnd.sock -c 'show version' | grep -q 'Data plane requested: kernel'"
check "log says the kernel data plane runs" grep -q 'data plane: kernel' $W/rvpnd.log
# the rest needs the tunnels: stop here if they are not up
finish() {
    check "collected rvpn's ESP keys from the kernel ($(wc -l < $W/keys.txt 2>/dev/null))" [ -s $W/keys.txt ]
    check "rvpnd logged no ESP key and no PSK" sh -c "! grep -qiF -f $W/keys.txt $W/rvpnd.log && ! grep -qF '$PSK' $W/rvpnd.log"
    # keep the logs in the share for whoever runs this by hand
    cp $W/rvpnd.log $S/charon.log /tmp/host/ 2>/dev/null
    stage "done, $fail failures"
    echo "METRIC test_s=$(now)"
    if [ $fail -gt 0 ]; then
        echo "== rvpnd log (last 120 lines)"; tail -120 $W/rvpnd.log
        echo "== charon log (last 60 lines)"; tail -60 $S/charon.log 2>/dev/null
        echo "== dmesg (last 20 lines)"; dmesg | tail -20
    fi
    exit $fail
}
if wait_until 60 tunnels_up; then pass "Tunnel1..3 up"; else bad "Tunnel1..3 up (links: $(rvpn_links))"; finish; fi
stage "tunnels up"
echo "METRIC tunnels_up_s=$(now)"
routes
ip -n kxr -d link show Tunnel1 | sed 's/^/  /'
rvpn_sas | sed 's/^/  rvpn SA: /'

# ------------------------------------------------------------------ traffic
stage "traffic"
check "ping host A -> host B through Tunnel1" ns kxa ping -c 3 -i 0.2 -W 2 -q 10.2.0.2
check "ping host B -> host A through Tunnel1" ns kxb ping -c 3 -i 0.2 -W 2 -q 10.1.0.2
check "ping IPv6 over Tunnel1 (inner IPv6, outer IPv4)" ns kxr ping -6 -c 3 -i 0.2 -W 2 -q 2001:db8:100::2
check "ping over Tunnel2 (ChaCha20-Poly1305, ESP in UDP)" ns kxr ping -c 3 -i 0.2 -W 2 -q 169.254.101.2
check "ping over Tunnel3 (AES-CBC-256/HMAC-SHA-256)" ns kxr ping -c 3 -i 0.2 -W 2 -q 169.254.102.2
rvpn_sas | sed 's/^/  rvpn SA: /'
# Tunnel1 rekeys every ~18 s and its new pair starts at zero: when a rekey
# came between the pings above and a count, ping through it once more and
# count again (each count is one snapshot of both directions).
count_after_ping() { # ADDR_PREFIX HOST_NS TARGET -> "out in"
    local snap o i try
    for try in 1 2 3; do
        snap=$(rvpn_sas)
        o=$(echo "$snap" | awk -v d="$1.2" '$2==d{n+=$6} END{print n+0}')
        i=$(echo "$snap" | awk -v s="$1.2" '$1==s{n+=$6} END{print n+0}')
        if [ "$o" -ge 3 ] && [ "$i" -ge 3 ]; then break; fi
        [ "$try" = 3 ] && break
        echo "  $1.x: out $o, in $i packets: rekeyed since the pings (new SAs count from zero), pinging again" >&2
        ns "$2" ping -c 3 -i 0.2 -W 2 -q "$3" >/dev/null
    done
    echo "$o $i"
}
for a in 192.0.2 198.51.100 203.0.113; do
    case $a in
        192.0.2) pns=kxa; pto=10.2.0.2 ;;
        198.51.100) pns=kxr; pto=169.254.101.2 ;;
        *) pns=kxr; pto=169.254.102.2 ;;
    esac
    r=$(count_after_ping $a $pns $pto); o=${r% *}; i=${r#* }
    echo "  $a.x: out $o packets, in $i packets"
    check "kernel SAs to $a.2 counted packets (out $o, in $i)" [ "$o" -ge 3 -a "$i" -ge 3 ]
done
check "Tunnel2 SAs are ESP in UDP 4500" sh -c "ip -n kxr xfrm state list dst 198.51.100.2 | grep -q 'encap type espinudp sport 4500 dport 4500'"
check "Tunnel1 SAs are raw ESP" sh -c "! ip -n kxr xfrm state list dst 192.0.2.2 | grep -q encap"
check "algorithms: rfc7539esp on Tunnel2" sh -c "ip -n kxr xfrm state list dst 198.51.100.2 | grep -q 'rfc7539esp(chacha20,poly1305)'"
check "algorithms: cbc(aes) + hmac(sha256) 128 on Tunnel3" sh -c "ip -n kxr xfrm state list dst 203.0.113.2 | grep -q 'hmac(sha256)' && ip -n kxr xfrm state list dst 203.0.113.2 | grep -q 'cbc(aes)'"
check "6 rvpn policies per tunnel (18)" [ "$(rvpn_policy_count)" -eq 18 ]
# rvpn's ESP keys as the kernel holds them (kept in the VM, never printed)
ip -n kxr xfrm state | awk '/^\t(aead|enc|auth-trunc) /{k=$3; sub(/^0x/,"",k); if (length(k) >= 32) print k}' | sort -u > $W/keys.txt
echo "  vtysh show crypto session:"; vty -c 'show crypto session' 2>&1 | sed 's/^/    /'

# ---------------------------------------------------------------- rekeys
# loss_ping NAME SECONDS_MAX CONDITION...: ping host A -> host B every 50 ms
# until CONDITION holds (then 2 s more), report the loss.
loss_ping() {
    local name=$1 max=$2; shift 2
    ns kxa ping -i 0.05 -W 1 -c $((max * 20)) 10.2.0.2 > $W/ping-$name.txt 2>&1 &
    local p=$!
    if wait_until "$max" "$@"; then pass "$name happened during the ping"; else bad "$name happened during the ping"; fi
    sleep 2
    kill -INT $p 2>/dev/null; wait $p 2>/dev/null
    local tx rx
    tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' $W/ping-$name.txt)
    rx=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' $W/ping-$name.txt)
    tx=${tx:-0}; rx=${rx:-0}
    echo "METRIC ${name}_sent=$tx ${name}_received=$rx ${name}_lost=$((tx - rx))"
    LOST=$((tx - rx)); SENT=$tx
}
rekeys() { grep -c 'rekey of' $W/rvpnd.log; }
# Loss allowed across one rekey at 20 pings/s. IKE sends the message that
# lets the peer use a new SA only after the data plane has installed its
# inbound state, and as the answering side rvpn keeps sealing with the old
# SA until the peer deletes it; measured: 0 lost either way. The slack of 2
# is for a busy emulated guest, not for a known race.
MAXLOSS=2
# every "installed ... rekey of X" precedes "pair in X ... removed"
make_before_break() {
    awk '/kernel SA pair installed/ && /rekey of/ { x=$0; sub(/.*rekey of /,"",x); inst[x]=NR }
         /kernel SA pair in [0-9a-f]+ out [0-9a-f]+ removed/ {
             for (i=1;i<NF;i++) if ($i=="in") { rem[$(i+1)]=NR; break } }
         END { n=0; bad=0
               for (s in inst) { n++; if (!(s in rem) || rem[s] < inst[s]) bad++ }
               printf "%d rekeys, %d out of order\n", n, bad
               exit (n==0 || bad>0) }' $W/rvpnd.log
}
# XFRM error counters that moved since the last call, per namespace
xstat() {
    local n
    for n in kxr kxs; do
        ns $n cat /proc/net/xfrm_stat > $W/xstat-$n.new
        if [ -f $W/xstat-$n.old ]; then
            awk -v ns=$n 'NR==FNR{old[$1]=$2; next} $2!=old[$1]{print "  xfrm_stat " ns ": " $1 " +" $2-old[$1]}' \
                $W/xstat-$n.old $W/xstat-$n.new
        fi
        mv $W/xstat-$n.new $W/xstat-$n.old
    done
}
xstat
stage "rekey initiated by rvpn (lifetime 20 s)"
n0=$(rekeys)
rvpn_rekeyed() { [ "$(rekeys)" -gt "$n0" ]; }
loss_ping rekey_rvpn 25 rvpn_rekeyed
check "rvpn-initiated rekey: $LOST of $SENT pings lost (at most $MAXLOSS)" [ "$SENT" -gt 20 -a "$LOST" -le $MAXLOSS ]
grep 'rekey of' $W/rvpnd.log | tail -1 | sed 's/^/  /'
xstat

stage "rekey initiated by strongSwan (swanctl --rekey)"
n1=$(rekeys)
swan_rekeyed() { [ "$(rekeys)" -gt "$n1" ]; }
( sleep 1; swanctl --rekey --child net1 > $W/swan-rekey.txt 2>&1 ) &
loss_ping rekey_swan 15 swan_rekeyed
check "swanctl --rekey completed" grep -q 'rekey completed successfully' $W/swan-rekey.txt
check "strongSwan-initiated rekey: $LOST of $SENT pings lost (at most $MAXLOSS)" [ "$SENT" -gt 20 -a "$LOST" -le $MAXLOSS ]
xstat
t1_pairs() { [ "$(rvpn_sas | awk '$1=="192.0.2.2" || $2=="192.0.2.2"' | wc -l)" -eq 2 ]; }
check "old Tunnel1 SAs removed after the rekeys" wait_until 10 t1_pairs
echo "  make-before-break: $(make_before_break)"
check "every rekey installed the new pair before the old one was removed" make_before_break
check "ping still works after the rekeys" ns kxa ping -c 2 -i 0.2 -W 2 -q 10.2.0.2

stage "volume lifetime: Tunnel2 (2560 KiB) rekeys under traffic"
check "Tunnel2 SAs carry the kernel byte limits" sh -c "ip -n kxr -s xfrm state list dst 198.51.100.2 | grep -q 'hard 2621440(bytes)'"
vol0=$(grep -c 'reached its soft lifetime in the kernel' $W/rvpnd.log)
# 2500 x 1400 bytes at 200/s: 3.5 MB each way, one rekey at ~2.3 MB
ns kxr ping -s 1400 -i 0.005 -W 1 -c 2500 169.254.101.2 > $W/ping-volume.txt 2>&1
grep -E 'lifetime in the kernel|expiry notices|Tunnel2: kernel SA pair' $W/rvpnd.log | tail -4 | sed 's/^/  /'
ip -n kxr -s xfrm state list dst 198.51.100.2 | grep -E 'spi|bytes' | sed 's/^/  /'
vol1=$(grep -c 'reached its soft lifetime in the kernel' $W/rvpnd.log)
tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' $W/ping-volume.txt); tx=${tx:-0}
rx=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' $W/ping-volume.txt); rx=${rx:-0}
echo "METRIC volume_rekeys=$((vol1 - vol0)) volume_sent=$tx volume_lost=$((tx - rx))"
check "the kernel's soft byte limit asked for rekeys ($((vol1 - vol0)))" [ $((vol1 - vol0)) -ge 1 ]
check "volume rekeys: $((tx - rx)) of $tx pings lost (at most $MAXLOSS)" [ "$tx" -ge 2400 -a $((tx - rx)) -le $MAXLOSS ]
check "every rekey installed the new pair before the old one was removed (volume)" make_before_break
check "no SA hit its hard byte limit" sh -c "! grep -q 'reached its hard lifetime: the kernel deleted it' $W/rvpnd.log"

stage "ESN: strongSwan rekeys Tunnel3 preferring ESN"
check "Tunnel3 starts without ESN" sh -c "! ip -n kxr xfrm state list dst 203.0.113.2 | grep -q 'flag.* esn'"
swanctl --rekey --child net3 > $W/swan-rekey3.txt 2>&1
check "swanctl --rekey net3 completed" grep -q 'rekey completed successfully' $W/swan-rekey3.txt
t3_esn() { ip -n kxr xfrm state list dst 203.0.113.2 | grep -q 'flag.* esn'; }
check "rvpn took ESN: Tunnel3's new states have the esn flag" wait_until 10 t3_esn
check "ping over Tunnel3 with ESN" ns kxr ping -c 3 -i 0.2 -W 2 -q 169.254.102.2

# ---------------------------------------------------------------- SIGTERM
stage "SIGTERM"
kill -TERM $RVPN_PID
rvpn_gone() { ! kill -0 $RVPN_PID 2>/dev/null; }
check "rvpnd exits on SIGTERM" wait_until 15 rvpn_gone
RVPN_PID=
echo "  after SIGTERM: states $(rvpn_sa_count), policies $(rvpn_policy_count), links: $(rvpn_links)"
check "no rvpn state after SIGTERM" [ "$(rvpn_sa_count)" -eq 0 ]
check "no rvpn policy after SIGTERM" [ "$(rvpn_policy_count)" -eq 0 ]
check "no rvpn interface after SIGTERM" [ -z "$(rvpn_links)" ]
check "foreign state/policy/interface untouched by SIGTERM" foreign_intact

# ------------------------------------------------------ kill -9 + restart
stage "kill -9 and restart"
if start_rvpnd && wait_until 60 tunnels_up; then pass "rvpnd restarted, tunnels up"; else bad "rvpnd restarted, tunnels up"; fi
kill -9 $RVPN_PID; wait $RVPN_PID 2>/dev/null; RVPN_PID=
stale_states=$(rvpn_sa_count); stale_pol=$(rvpn_policy_count)
echo "  after kill -9: states $stale_states, policies $stale_pol, links: $(rvpn_links)"
check "kill -9 leaves rvpn's kernel objects behind" [ "$stale_states" -gt 0 -a "$stale_pol" -gt 0 ]
# Tunnel1's SAs have IKE's hard lifetime (22 s) plus 2 s in the kernel:
# with nobody left to delete them, the kernel does.
t1_gone() { [ "$(rvpn_sas | awk '$1=="192.0.2.2" || $2=="192.0.2.2"' | wc -l)" -eq 0 ]; }
check "the kernel removes Tunnel1's SAs at their hard lifetime after kill -9" wait_until 35 t1_gone
start_rvpnd || bad "rvpnd answers after kill -9"
check "restart reconciles stale objects" wait_until 10 grep -q 'left by an earlier rvpnd' $W/rvpnd.log
grep 'left by an earlier rvpnd' $W/rvpnd.log | tail -1 | sed 's/^/  /'
check "foreign state/policy/interface untouched by reconciliation" foreign_intact
if wait_until 60 tunnels_up; then pass "tunnels up again"; else bad "tunnels up again"; fi
routes
check "ping host A -> host B after restart" wait_until 10 ns kxa ping -c 1 -W 1 -q 10.2.0.2
# after reconciliation only the new pairs remain (a rekey may add one briefly)
check "only live rvpn states remain (<= 8)" [ "$(rvpn_sa_count)" -le 8 ]
kill -TERM $RVPN_PID
check "rvpnd exits on SIGTERM again" wait_until 15 rvpn_gone
RVPN_PID=
clean() { [ "$(rvpn_sa_count)" -eq 0 ] && [ "$(rvpn_policy_count)" -eq 0 ] && [ -z "$(rvpn_links)" ]; }
check "clean after the final SIGTERM" clean
check "foreign state/policy/interface still there at the end" foreign_intact

# ---------------------------------------------------------- NAT rebinding
# strongSwan (kernel ESP, kernel-netlink) in kxt behind a NAT (kxn)
# initiates to rvpnd (a hub: tunnel destination dynamic); NAT detection
# puts ESP in UDP on both ends. Then the NAT forgets its mappings and maps
# into another port range while kxt pings through the tunnel: rvpn's
# kernel sees ESP arrive from the new port (XFRM_MSG_MAPPING), IKE follows,
# and the pair is rekeyed onto the new port; the IKE SA stays.
#
#   kxr r2 100.64.0.1/24 -- n0 100.64.0.254 [kxn: MASQUERADE udp] n1 10.3.0.254/24 -- t0 10.3.0.2 (kxt)
#   rvpn Tunnel1 169.254.1.1/30                                         ipsec1 169.254.1.2/30 (if_id 51)
NATMAX=10        # recovery bound asserted (s); the issue asks 2 s of the userspace data plane
nat_stage() {
    stage "NAT rebinding: strongSwan behind a NAT, ESP in UDP, kernel ESP on both ends"
    if ! command -v iptables >/dev/null; then bad "iptables in the host root (NAT stage)"; return; fi
    # one charon at a time (pid file): the first one is done
    kill -TERM "$SWAN_PID" 2>/dev/null
    swan_gone() { ! kill -0 "$SWAN_PID" 2>/dev/null; }
    wait_until 15 swan_gone || kill -9 "$SWAN_PID" 2>/dev/null
    wait "$SWAN_PID" 2>/dev/null; SWAN_PID=
    for n in kxn kxt; do ip netns add $n; ip -n $n link set lo up; done
    ip link add r2 netns kxr type veth peer name n0 netns kxn
    ip link add n1 netns kxn type veth peer name t0 netns kxt
    ip -n kxr addr add 100.64.0.1/24 dev r2
    ip -n kxn addr add 100.64.0.254/24 dev n0
    ip -n kxn addr add 10.3.0.254/24 dev n1
    ip -n kxt addr add 10.3.0.2/24 dev t0
    for l in kxr:r2 kxn:n0 kxn:n1 kxt:t0; do ip -n ${l%:*} link set ${l#*:} up; done
    ip -n kxt route add default via 10.3.0.254
    ns kxn sysctl -qw net.ipv4.ip_forward=1
    nat_rule() { echo "POSTROUTING -o n0 -p udp -j MASQUERADE --to-ports $1"; }
    # shellcheck disable=SC2046
    check "NAT: iptables MASQUERADE into 11000-11999" ns kxn iptables -w -t nat -A $(nat_rule 11000-11999)
    ip -n kxt link add ipsec1 type xfrm if_id 51
    ip -n kxt addr add 169.254.1.2/30 dev ipsec1
    ip -n kxt link set ipsec1 up

    N=$W/nat; mkdir -p $N
    sed -e "s#$S/charon.log#$N/charon.log#" -e "s#$S/charon.vici#$N/charon.vici#" \
        $S/strongswan.conf > $N/strongswan.conf
    cat > $N/swanctl.conf <<EOF
connections {
  hub {
    version = 2
    local_addrs = 10.3.0.2
    remote_addrs = 100.64.0.1
    proposals = aes256gcm16-prfsha384-x25519
    encap = no
    mobike = no
    local { auth = psk
            id = spoke1.spokes.test }
    remote { auth = psk
             id = hub.test }
    children {
      net {
        mode = tunnel
        local_ts = 0.0.0.0/0
        remote_ts = 0.0.0.0/0
        esp_proposals = aes256gcm16
        if_id_in = 51
        if_id_out = 51
        start_action = start
      }
    }
  }
}
secrets {
  ike-hub { id-1 = spoke1.spokes.test
            id-2 = hub.test
            secret = "$PSK" }
}
EOF
    cat > $W/rvpnd-nat.conf <<EOF
hostname rvpn-nat
crypto ikev2 proposal P
 encryption aes-gcm-256
 prf sha384
 group 31
!
crypto ikev2 keyring SPOKES
 peer any
  address 0.0.0.0/0
  pre-shared-key 0 $PSK
!
crypto ikev2 profile SPOKES
 match identity remote fqdn domain spokes.test
 identity local fqdn hub.test
 authentication local pre-share
 authentication remote pre-share
 keyring local SPOKES
 proposal P
!
crypto ipsec transform-set TS esp-gcm 256
!
crypto ipsec profile IPS
 set transform-set TS
 set ikev2-profile SPOKES
!
interface Tunnel1
 ip address 169.254.1.1/30
 tunnel destination dynamic
 tunnel protection ipsec profile IPS
!
EOF
    local L=$W/rvpnd-nat.log
    nvty() { "$VTYSH" --socket $W/rvpnd-nat.sock "$@"; }
    rm -f $W/rvpnd-nat.sock
    ip netns exec kxr env RUST_LOG=info,rvpnd=debug "$RVPND" -f $W/rvpnd-nat.conf \
        --socket $W/rvpnd-nat.sock --dataplane kernel > $L 2>&1 &
    RVPN_PID=$!
    check "NAT: rvpnd (hub) answers vtysh" wait_until 30 nvty -c 'show version'
    STRONGSWAN_CONF=$N/strongswan.conf ip netns exec kxt /usr/lib/ipsec/charon >$N/charon.out 2>&1 &
    SWAN_PID=$!
    nswanctl() { local c=$1; shift; command swanctl "$c" --uri unix://$N/charon.vici "$@"; }
    wait_until 20 test -S $N/charon.vici && wait_until 10 nswanctl --stats >/dev/null
    check "NAT: strongSwan behind the NAT loads its connection" nswanctl --load-all --file $N/swanctl.conf
    nat_up() { link_up Tunnel1 && ns kxt ping -c 1 -W 1 -q 169.254.1.1 >/dev/null; }
    if wait_until 60 nat_up; then pass "NAT: tunnel up, ping through it"; else
        bad "NAT: tunnel up, ping through it"
        tail -40 $L; tail -40 $N/charon.log; return
    fi
    echo "METRIC nat_tunnel_up_s=$(now)"
    # the IKE SA as rvpn and strongSwan see it; the session's peer port
    ike_sa() { nvty -c 'show crypto ikev2 sa json' | tr -d ' \n'; }
    jfield() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"; }
    sess_port() { nvty -c 'show crypto session json' | tr -d ' \n' | jfield peer_port; }
    swan_ike() { nswanctl --list-sas 2>/dev/null | sed -n 's/.*ESTABLISHED, IKEv2, \([0-9a-f]*_i\*\{0,1\} [0-9a-f]*_r\*\{0,1\}\).*/\1/p'; }
    out_dport() { ip -n kxr xfrm state list dst 100.64.0.254 | sed -n 's/.*encap type espinudp sport 4500 dport \([0-9]*\).*/\1/p' | sort -u | tr '\n' ' '; }
    local sa0 spi_i0 spi_r0 p0 swan0 n_ike0
    sa0=$(ike_sa); spi_i0=$(echo "$sa0" | jfield spi_i); spi_r0=$(echo "$sa0" | jfield spi_r)
    p0=$(sess_port); swan0=$(swan_ike)
    echo "  before: rvpn IKE SA $spi_i0/$spi_r0 nat_remote=$(echo "$sa0" | jfield nat_remote), peer port $p0, strongSwan $swan0, rvpn ESP to port(s) $(out_dport)"
    check "NAT: NAT detected, the peer mapped into 11000-11999 (port $p0)" [ "${p0:-0}" -ge 11000 -a "${p0:-0}" -le 11999 ]
    check "NAT: rvpn's kernel SAs are ESP in UDP to the mapped port" sh -c "ip -n kxr xfrm state list dst 100.64.0.254 | grep -q 'encap type espinudp sport 4500 dport $p0'"
    n_ike0=$(grep -cE 'IKE_SA [0-9a-f]+_[ir] established' $L)
    # ping from behind the NAT (kxt -> rvpn) every 50 ms across the change
    ns kxt ping -D -i 0.05 -W 1 -c 1200 169.254.1.1 > $W/ping-nat.txt 2>&1 &
    local pp=$! at t_follow p1
    sleep 3
    at=$(date +%s.%N)
    # the NAT forgets its mappings (MASQUERADE drops them with the address)
    # and maps into another port range from now on
    # shellcheck disable=SC2046
    ns kxn iptables -w -t nat -R $(nat_rule 12000-12999 | sed 's/^POSTROUTING/POSTROUTING 1/')
    ip -n kxn addr del 100.64.0.254/24 dev n0
    ip -n kxn addr add 100.64.0.254/24 dev n0
    # followed: the session's peer port is in the new range and the kernel
    # has ESP in UDP to it (polled every 0.2 s, so within 0.2 s + a vtysh)
    followed() { p1=$(sess_port); [ "${p1:-0}" -ge 12000 ] && [ "${p1:-0}" -le 12999 ] &&
                 out_dport | grep -qw "$p1"; }
    if wait_until 30 followed; then t_follow=$(awk -v a="$at" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
        pass "NAT: rvpn follows: session peer port $p0 -> $p1, kernel ESP to $(out_dport)(${t_follow} s)"
    else bad "NAT: rvpn follows the new mapping (peer port $(sess_port), ESP to $(out_dport))"; fi
    old_gone() { ! out_dport | grep -qw "$p0"; }
    check "NAT: the pair to the old port ($p0) is gone from the kernel" wait_until 30 old_gone
    sleep 4
    kill -INT $pp 2>/dev/null; wait $pp 2>/dev/null
    # longest gap between two replies across the change; replies since
    local gap after tx rx
    gap=$(awk -v at="$at" '/bytes from/{t=substr($1,2,length($1)-2)+0
              if (prev && t>at && t-prev>g) g=t-prev; prev=t} END{printf "%.2f", g+0}' $W/ping-nat.txt)
    after=$(awk -v at="$at" -v m=$NATMAX '/bytes from/{t=substr($1,2,length($1)-2)+0; if (t>at+m) n++} END{print n+0}' $W/ping-nat.txt)
    tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' $W/ping-nat.txt); tx=${tx:-0}
    rx=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' $W/ping-nat.txt); rx=${rx:-0}
    echo "METRIC nat_rebind_gap_s=$gap nat_rebind_sent=$tx nat_rebind_lost=$((tx - rx)) nat_follow_s=${t_follow:-none}"
    grep -E 'the kernel saw its ESP arrive from|NAT mapping|moves to|rekey of' $L | tail -6 | sed 's/^/  /'
    check "NAT: ping recovered within $NATMAX s (longest gap ${gap} s, $((tx - rx)) of $tx lost)" \
        awk -v g="$gap" -v m=$NATMAX -v n="$after" 'BEGIN{exit !(g > 0 && g <= m && n >= 20)}'
    check "NAT: the kernel reported ESP from the new mapping" grep -q "the kernel saw its ESP arrive from 100.64.0.254:12" $L
    local sa1
    sa1=$(ike_sa)
    echo "  after: rvpn IKE SA $(echo "$sa1" | jfield spi_i)/$(echo "$sa1" | jfield spi_r) remote $(echo "$sa1" | jfield remote), strongSwan $(swan_ike)"
    check "NAT: rvpn kept its IKE SA (same SPIs)" [ -n "$spi_i0" -a "$(echo "$sa1" | jfield spi_i)" = "$spi_i0" -a "$(echo "$sa1" | jfield spi_r)" = "$spi_r0" ]
    check "NAT: rvpn's IKE SA follows to the new port" sh -c "echo '$sa1' | grep -q '\"remote\":\"100.64.0.254:12'"
    check "NAT: strongSwan kept its IKE SA (same SPIs)" [ -n "$swan0" -a "$(swan_ike)" = "$swan0" ]
    check "NAT: no IKE SA negotiated since" [ "$(grep -cE 'IKE_SA [0-9a-f]+_[ir] established' $L)" -eq "$n_ike0" ]
    check "NAT: one rvpn session, one IKE SA at strongSwan" [ "$(nswanctl --list-sas | grep -c ESTABLISHED)" -eq 1 ]
    check "NAT: ping after the rebinding" ns kxt ping -c 3 -i 0.2 -W 2 -q 169.254.1.1
    echo "  vtysh show crypto session:"; nvty -c 'show crypto session' 2>&1 | sed 's/^/    /'
    kill -TERM $RVPN_PID
    check "NAT: rvpnd exits on SIGTERM" wait_until 15 rvpn_gone
    RVPN_PID=
    check "NAT: clean after SIGTERM" clean
    cp $L /tmp/host/ 2>/dev/null; cp $N/charon.log /tmp/host/charon-nat.log 2>/dev/null
}
nat_stage

# ------------------------------------------- the backend, command by command
if [ -n "${KXTEST:-}" ]; then
    stage "backend commands against this kernel (live test)"
    ip netns add kxla; ip netns add kxlb
    ip link add v0 netns kxla type veth peer name v1 netns kxlb
    ip -n kxla addr add 192.0.2.1/24 dev v0; ip -n kxlb addr add 192.0.2.2/24 dev v1
    for n in kxla:v0 kxlb:v1; do ip -n ${n%:*} link set lo up; ip -n ${n%:*} link set ${n#*:} up; done
    RVPN_KERNEL_LIVE=1 timeout 120 "$KXTEST" --ignored --exact live_backend_in_this_kernel \
        --nocapture --test-threads 1 > $W/live.txt 2>&1
    rc=$?
    if [ $rc = 0 ] && grep -q LIVE-BACKEND-OK $W/live.txt; then
        pass "backend live test: install, traffic, Stats, rekey, Remove (line protocol down), 7 transforms/ESN/replay/encap, RemoveInterface, Shutdown"
    else
        bad "backend live test (exit $rc)"; grep -A3 panicked $W/live.txt; tail -60 $W/live.txt
    fi
fi

# -------------------------------------------------------------------- end
finish
