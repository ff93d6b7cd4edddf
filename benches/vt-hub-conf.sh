# benches/vt-hub-conf.sh - sourced by ike-setup-rate.sh and vt-scale.sh:
# the rvpnd configuration of a FlexVPN Virtual-Template hub (issue 16).
#
# vt_hub_conf N HUB_IP PSK [DPD_SECS]: prints a hub with ONE
# `interface Virtual-Template1 type tunnel` (unnumbered to Loopback0,
# 10.199.0.1), an `ip local pool` of N addresses from 10.200.0.1, spokes
# matched by `fqdn domain bench` with one PSK, and DPD every DPD_SECS
# (none when empty; DPD_MODE, env: on-demand, the default, probes a spoke
# silent for the interval, IKE and ESP alike; periodic probes every spoke
# every interval). Every authenticated spoke gets a
# Virtual-AccessN, a pool address and a host route.
# VT_MAX_NEG (env, default 100000): the hub's `crypto ikev2 limit
# max-in-negotiation-sa` (half-open SAs before it refuses).
# vt_hub_conf N HUB_IP PSK DPD_SECS BGP: with BGP=1 also a BGP speaker (AS
# 65000) that takes every spoke in the pool as a dynamic neighbour (`bgp
# listen range 10.200.0.0/14 peer-group SPOKES`, remote-as 65100, `bgp
# listen limit N`, timers 3 9) and sends them only its loopback
# (10.199.0.1/32), as a FlexVPN hub would send a summary, not every other
# spoke's prefix.
vt_hub_conf() {
  local n=$1 ip=$2 psk=$3 dpd=${4:-} bgp=${5:-0} last
  # 10.200.0.1 + n - 1
  last=$(awk -v n="$n" 'BEGIN { printf "10.%d.%d.%d", 200 + int(n / 65536), int(n / 256) % 256, n % 256 }')
  cat <<EOF
hostname bench-hub
crypto ikev2 limit max-in-negotiation-sa ${VT_MAX_NEG:-100000}
crypto ikev2 limit max-in-negotiation-sa-per-address 100000
aaa new-model
aaa authorization network SPOKES-AUTH local
ip local pool SPOKES-POOL 10.200.0.1 $last
!
crypto ikev2 authorization policy SPOKES-POL
 pool SPOKES-POOL
!
crypto ikev2 proposal P
 encryption aes-gcm-256
 prf sha256
 group 31
!
crypto ikev2 keyring K
 peer spokes
  address 0.0.0.0/0
  pre-shared-key 0 $psk
!
crypto ikev2 profile PROF
 match identity remote fqdn domain bench
 identity local fqdn hub.bench
 authentication local pre-share
 authentication remote pre-share
 keyring local K
 proposal P
EOF
  [ -n "$dpd" ] && echo " dpd $dpd 3 ${DPD_MODE:-on-demand}"
  cat <<EOF
 aaa authorization group psk list SPOKES-AUTH SPOKES-POL
 virtual-template 1
!
crypto ipsec transform-set TS esp-gcm 256
!
crypto ipsec profile IPS
 set transform-set TS
 set ikev2-profile PROF
!
interface Loopback0
 ip address 10.199.0.1/32
!
interface Virtual-Template1 type tunnel
 ip unnumbered Loopback0
 tunnel source $ip
 tunnel mode ipsec ipv4
 tunnel protection ipsec profile IPS
!
EOF
  [ "$bgp" = 1 ] && cat <<EOF
ip prefix-list HUB-OUT seq 5 permit 10.199.0.1/32
!
router bgp 65000
 bgp router-id 10.199.0.1
 no bgp ebgp-requires-policy
 bgp listen limit $n
 neighbor SPOKES peer-group
 neighbor SPOKES remote-as 65100
 neighbor SPOKES timers 3 9
 bgp listen range 10.200.0.0/14 peer-group SPOKES
 !
 address-family ipv4 unicast
  network 10.199.0.1/32
  neighbor SPOKES prefix-list HUB-OUT out
 exit-address-family
!
EOF
  echo end
}
