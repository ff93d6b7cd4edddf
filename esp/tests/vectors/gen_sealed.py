#!/usr/bin/env python3
"""Builds expected ESP packets for esp/tests/kat.rs, independently of the
Rust code, from RFC 4303 / 4106 / 7634 / 3602 / 2404 / 4868 rules, with
Python's `cryptography` package. Run: python3 gen_sealed.py > sealed.txt

Sender conventions pinned here: AEAD IV = 64-bit sequence number; AES-CBC
IV from the injected random source (fixed in the test); padding 1, 2, 3...
to 4 bytes (AEAD) or 16 bytes (CBC); with ESN the AAD is SPI||SeqHi||SeqLo
(AEAD) or SeqHi is appended after the ciphertext for the ICV only (CBC).
"""
import hmac, hashlib
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

SPI = 0x11223344
CBC_IV = bytes(range(0xA0, 0xB0))
ENC_KEY = bytes((0x80 + i) & 0xFF for i in range(36))
INTEG_KEY = bytes((0x20 + 3 * i) & 0xFF for i in range(64))

# RFC 7634 Appendix A inner packet (IPv4 ICMP echo) and a small IPv6 one.
IPV4 = bytes.fromhex(
    "45000054a6f200004001e778c6336405c000020508005b7a3a080000553bec10"
    "0007362708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223"
    "2425262728292a2b2c2d2e2f3031323334353637")
IPV6 = bytes.fromhex(
    "6000000000083a40fd000000000000000000000000000001"
    "fd000000000000000000000000000002"
    "8000f0f012340001")

AEAD = {
    "AES_GCM_16_128": (AESGCM, 16),
    "AES_GCM_16_256": (AESGCM, 32),
    "CHACHA20_POLY1305": (ChaCha20Poly1305, 32),
}
INTEG = {
    "HMAC_SHA1_96": (hashlib.sha1, 20, 12),
    "HMAC_SHA2_256_128": (hashlib.sha256, 32, 16),
    "HMAC_SHA2_384_192": (hashlib.sha384, 48, 24),
    "HMAC_SHA2_512_256": (hashlib.sha512, 64, 32),
}

def pad(payload, nh, align):
    n = (align - (len(payload) + 2) % align) % align
    return payload + bytes(range(1, n + 1)) + bytes([n, nh])

def seal(name, esn, seq, inner, nh):
    hdr = SPI.to_bytes(4, "big") + (seq & 0xFFFFFFFF).to_bytes(4, "big")
    hi = (seq >> 32).to_bytes(4, "big")
    if name in AEAD:
        cls, klen = AEAD[name]
        key, salt = ENC_KEY[:klen], ENC_KEY[klen:klen + 4]
        iv = seq.to_bytes(8, "big")
        aad = hdr[:4] + hi + hdr[4:] if esn else hdr
        ct = cls(key).encrypt(salt + iv, pad(inner, nh, 4), aad)
        return hdr + iv + ct, key + salt, b""
    encr, integ = name.split("/")
    klen = {"AES_CBC_128": 16, "AES_CBC_256": 32}[encr]
    h, ik, icv = INTEG[integ]
    key, ikey = ENC_KEY[:klen], INTEG_KEY[:ik]
    enc = Cipher(algorithms.AES(key), modes.CBC(CBC_IV)).encryptor()
    ct = enc.update(pad(inner, nh, 16)) + enc.finalize()
    covered = hdr + CBC_IV + ct
    tag = hmac.new(ikey, covered + (hi if esn else b""), h).digest()[:icv]
    return covered + tag, key, ikey

names = list(AEAD) + [f"AES_CBC_{k}/{i}" for k in (128, 256) for i in INTEG]
print("# transform esn seq next_header inner enc_key integ_key packet")
for name in names:
    for esn in (False, True):
        for inner, nh in ((IPV4, 4), (IPV6, 41)):
            seq = 0x1_0000_0005 if esn else 5
            pkt, k, ik = seal(name, esn, seq, inner, nh)
            print(name, int(esn), seq, nh, inner.hex(), k.hex(), ik.hex() or "-", pkt.hex())
