#!/bin/sh
# Throwaway test PKI for the unit tests of ike::pki. The generated files are
# committed so that `cargo test` needs no openssl; re-run this script (from
# any directory) only to regenerate them. Nothing here is a real secret.
set -eu
cd "$(dirname "$0")"
rm -rf work && mkdir work
D=7300   # 20 years: the good certificates must not rot under the tests

ext() { # section name, then lines
    n=$1; shift
    printf '[%s]\n' "$n" >> work/ext.cnf
    for l in "$@"; do printf '%s\n' "$l" >> work/ext.cnf; done
}
: > work/ext.cnf
ext ca 'basicConstraints=critical,CA:TRUE' 'keyUsage=critical,keyCertSign,cRLSign' 'subjectKeyIdentifier=hash'
ext ca_pl0 'basicConstraints=critical,CA:TRUE,pathlen:0' 'keyUsage=critical,keyCertSign,cRLSign'
ext ca_nosign 'basicConstraints=critical,CA:TRUE' 'keyUsage=critical,digitalSignature'
ext ee_hub1 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature' 'subjectAltName=DNS:hub1.example.net,email:hub1@example.net,IP:192.0.2.1,IP:2001:db8::1'
ext ee_spoke1 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature' 'subjectAltName=DNS:spoke1.example.net,email:spoke1@example.net,IP:192.0.2.11'
ext ee_spoke2 'basicConstraints=CA:FALSE' 'subjectAltName=DNS:spoke2.example.net,email:spoke2@example.net,IP:192.0.2.12'
ext ee_plain 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature'
ext ee_noku 'basicConstraints=CA:FALSE'
ext ee_keyenc 'basicConstraints=CA:FALSE' 'keyUsage=critical,keyEncipherment'

genec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:$2 -out $1.key 2>/dev/null; }
genrsa() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:$2 -out $1.key 2>/dev/null; }
# sign NAME SUBJECT ISSUER EXT SERIAL [extra x509 options]
sign() {
    n=$1 s=$2 i=$3 e=$4 ser=$5; shift 5
    openssl req -new -key $n.key -subj "$s" -out work/$n.csr
    openssl x509 -req -in work/$n.csr -CA $i.pem -CAkey $i.key -set_serial $ser \
        -days $D -extfile work/ext.cnf -extensions $e -out $n.pem "$@" 2>/dev/null
}

# The lab CA (ECDSA P-256), self-signed.
genec ca P-256
openssl req -new -x509 -key ca.key -subj "/CN=Lab CA" -days $D -sha256 \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' -out ca.pem
# An intermediate (RSA 3072) under it.
genrsa subca 3072
sign subca "/O=Lab/CN=Lab Sub CA" ca ca 0x10 -sha256
# hub1: RSA 3072 under the intermediate, keys in every form.
genrsa hub1 3072
sign hub1 "/C=CH/O=Lab/CN=hub1" subca ee_hub1 0x11 -sha256
openssl pkey -in hub1.key -outform DER -out hub1.key.der
openssl rsa -in hub1.key -traditional -out hub1.rsa.pem 2>/dev/null
openssl rsa -in hub1.key -traditional -outform DER -out hub1.rsa.der 2>/dev/null
cat hub1.pem subca.pem > hub1-chain.pem
openssl x509 -in hub1.pem -outform DER -out hub1.der
# spoke1: ECDSA P-256 directly under the CA.
genec spoke1 P-256
sign spoke1 "/CN=spoke1" ca ee_spoke1 0x12 -sha256
openssl pkey -in spoke1.key -outform DER -out spoke1.key.der
openssl ec -in spoke1.key -out spoke1.ec.pem 2>/dev/null
openssl ec -in spoke1.key -outform DER -out spoke1.ec.der 2>/dev/null
openssl ec -in spoke1.key -no_public -out spoke1.ec-nopub.pem 2>/dev/null
openssl ecparam -name prime256v1 > spoke1.ec-params.pem
cat spoke1.ec.pem >> spoke1.ec-params.pem
# spoke2: ECDSA P-384 under the intermediate, signed with RSASSA-PSS.
genec spoke2 P-384
sign spoke2 "/CN=spoke2" subca ee_spoke2 0x13 -sha256 \
    -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -sigopt rsa_mgf1_md:sha256
openssl ec -in spoke2.key -out spoke2.ec.pem 2>/dev/null
openssl ec -in spoke2.key -no_public -outform DER -out spoke2.ec-nopub.der 2>/dev/null
# Keys that are refused.
openssl pkey -in spoke1.key -aes256 -passout pass:test -out encrypted.key
openssl rsa -in hub1.key -aes256 -passout pass:test -traditional -out encrypted.rsa.pem 2>/dev/null
openssl genpkey -algorithm ED25519 -out ed25519.key

# Constraint failures.
genec nosign P-256
sign nosign "/CN=No Sign CA" ca ca_nosign 0x20 -sha256
genec victim1 P-256
sign victim1 "/CN=victim1" nosign ee_plain 0x21 -sha256
genec pl0 P-256
sign pl0 "/CN=Pathlen0 CA" ca ca_pl0 0x22 -sha256
genec deepca P-256
sign deepca "/CN=Deep CA" pl0 ca 0x23 -sha256
genec deep P-256
sign deep "/CN=deep" deepca ee_plain 0x24 -sha256
genec notca P-256
sign notca "/CN=notca" ca ee_plain 0x25 -sha256
genec victim2 P-256
sign victim2 "/CN=victim2" notca ee_plain 0x26 -sha256
genec keyenc P-256
sign keyenc "/CN=keyenc" ca ee_keyenc 0x27 -sha256
genec noku P-256
sign noku "/CN=noku" ca ee_noku 0x28 -sha256
# SHA-1 signed end entity (only with allow-weak).
genrsa weak 2048
sign weak "/CN=weak" subca ee_plain 0x29 -sha1

# Another CA and a certificate of it.
genec other P-256
openssl req -new -x509 -key other.key -subj "/CN=Other CA" -days $D -sha256 \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' -out other.pem
genec stranger P-256
sign stranger "/CN=stranger" other ee_plain 0x30 -sha256

# openssl ca: the expired certificates and the CRL revoking spoke7 (0x1f),
# valid for 10 years (the certificates for 20) to test a stale CRL.
mkdir -p work/db && : > work/db/index.txt && echo 1F > work/db/serial
cat > work/ca.cnf <<CNF
[ca]
default_ca = lab
[lab]
dir = work/db
database = work/db/index.txt
serial = work/db/serial
new_certs_dir = work/db
certificate = ca.pem
private_key = ca.key
default_md = sha256
default_crl_days = 3650
policy = any
unique_subject = no
copy_extensions = none
x509_extensions = ee
[any]
commonName = supplied
[ee]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
[caext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
CNF
genec spoke7 P-256
openssl req -new -key spoke7.key -subj "/CN=spoke7" -out work/spoke7.csr
openssl ca -batch -config work/ca.cnf -days $D -in work/spoke7.csr -out spoke7.pem -notext 2>/dev/null
genec old P-256
openssl req -new -key old.key -subj "/CN=old" -out work/old.csr
openssl ca -batch -config work/ca.cnf -startdate 20200101000000Z -enddate 20260101000000Z \
    -in work/old.csr -out old.pem -notext 2>/dev/null
genec future P-256
openssl req -new -key future.key -subj "/CN=future" -out work/future.csr
openssl ca -batch -config work/ca.cnf -startdate 20460101000000Z -enddate 20470101000000Z \
    -in work/future.csr -out future.pem -notext 2>/dev/null
# An intermediate that expired, and a still valid certificate under it.
genec shortca P-256
openssl req -new -key shortca.key -subj "/CN=Short CA" -out work/shortca.csr
openssl ca -batch -config work/ca.cnf -extensions caext -startdate 20200101000000Z \
    -enddate 20260601000000Z -in work/shortca.csr -out shortca.pem -notext 2>/dev/null
genec shortee P-256
sign shortee "/CN=shortee" shortca ee_plain 0x60 -sha256
openssl ca -config work/ca.cnf -revoke spoke7.pem 2>/dev/null
openssl ca -config work/ca.cnf -gencrl -out ca.crl 2>/dev/null
openssl crl -in ca.crl -outform DER -out ca.crl.der
# A CRL of the other CA (not signed by the lab CA).
mkdir -p work/odb && : > work/odb/index.txt && echo 01 > work/odb/serial
sed -e 's#work/db#work/odb#g' -e 's#ca.pem#other.pem#' -e 's#ca.key#other.key#' work/ca.cnf > work/other.cnf
openssl ca -config work/other.cnf -gencrl -out other.crl 2>/dev/null

# Signatures made by openssl over a fixed message.
printf 'rvpn RFC 7427 test message\n' > msg.txt
openssl dgst -sha256 -sign hub1.key -out msg.hub1.pkcs1-sha256.sig msg.txt
openssl dgst -sha256 -sign hub1.key -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
    -out msg.hub1.pss-sha256.sig msg.txt
openssl dgst -sha512 -sign hub1.key -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:64 \
    -out msg.hub1.pss-sha512.sig msg.txt
openssl dgst -sha1 -sign hub1.key -out msg.hub1.pkcs1-sha1.sig msg.txt
openssl dgst -sha256 -sign spoke1.key -out msg.spoke1.ecdsa-sha256.sig msg.txt
openssl dgst -sha384 -sign spoke2.key -out msg.spoke2.ecdsa-sha384.sig msg.txt

# A long chain: Level 1 CA under the lab CA, Level 2 under it, ... 7; the
# end entity long6 is under Level 6 (8 certificates with the lab CA, the
# most a path may have), long7 under Level 7 (9, one too many).
prev=ca
for lv in 1 2 3 4 5 6 7; do
    genec l$lv P-256
    sign l$lv "/CN=Level $lv CA" $prev ca 0x4$lv -sha256
    prev=l$lv
done
genec long6 P-256
sign long6 "/CN=long6" l6 ee_plain 0x50 -sha256
genec long7 P-256
sign long7 "/CN=long7" l7 ee_plain 0x51 -sha256

# The CERTREQ key hash of the CA, as openssl computes it.
openssl x509 -in ca.pem -pubkey -noout | openssl pkey -pubin -outform DER |
    openssl dgst -sha1 -binary > ca.spki.sha1

rm -rf work *.srl
