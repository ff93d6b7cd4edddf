//! IANA "Internet Key Exchange Version 2 (IKEv2) Parameters" registries as
//! newtypes with named constants, so values this code does not know
//! survive decoding and can be logged and re-emitted.

use iana::registry;

registry! {
    /// Exchange Type in the IKE header (RFC 7296 section 3.1).
    ExchangeType(u8) {
        /// IKE_SA_INIT.
        IKE_SA_INIT = 34,
        /// IKE_AUTH.
        IKE_AUTH = 35,
        /// CREATE_CHILD_SA.
        CREATE_CHILD_SA = 36,
        /// INFORMATIONAL.
        INFORMATIONAL = 37,
        /// IKE_SESSION_RESUME (RFC 5723).
        IKE_SESSION_RESUME = 38,
        /// IKE_INTERMEDIATE (RFC 9242).
        IKE_INTERMEDIATE = 43,
    }
}

registry! {
    /// Payload Type, as found in Next Payload fields (RFC 7296 section 3.2).
    PayloadType(u8) {
        /// No Next Payload: the chain ends.
        NONE = 0,
        /// Security Association.
        SA = 33,
        /// Key Exchange.
        KE = 34,
        /// Identification - Initiator.
        IDI = 35,
        /// Identification - Responder.
        IDR = 36,
        /// Certificate.
        CERT = 37,
        /// Certificate Request.
        CERTREQ = 38,
        /// Authentication.
        AUTH = 39,
        /// Nonce.
        NONCE = 40,
        /// Notify.
        NOTIFY = 41,
        /// Delete.
        DELETE = 42,
        /// Vendor ID.
        VENDOR_ID = 43,
        /// Traffic Selector - Initiator.
        TSI = 44,
        /// Traffic Selector - Responder.
        TSR = 45,
        /// Encrypted and Authenticated.
        SK = 46,
        /// Configuration.
        CP = 47,
        /// Extensible Authentication.
        EAP = 48,
        /// Generic Secure Password Methods (RFC 6467).
        GSPM = 49,
        /// Encrypted and Authenticated Fragment (RFC 7383).
        SKF = 53,
    }
}

registry! {
    /// Security Protocol Identifier (RFC 7296 section 3.3.1).
    ProtocolId(u8) {
        /// Not an IANA value: the Protocol ID of a Notify that concerns no
        /// SA (SPI Size 0), which RFC 7296 section 3.10 says is sent as zero.
        NONE = 0,
        /// IKE.
        IKE = 1,
        /// AH.
        AH = 2,
        /// ESP.
        ESP = 3,
    }
}

registry! {
    /// Transform Type (RFC 7296 section 3.3.2).
    TransformType(u8) {
        /// Encryption Algorithm (ENCR).
        ENCR = 1,
        /// Pseudorandom Function (PRF).
        PRF = 2,
        /// Integrity Algorithm (INTEG).
        INTEG = 3,
        /// Diffie-Hellman Group (D-H), Key Exchange Method since RFC 9370.
        DH = 4,
        /// Extended Sequence Numbers (ESN).
        ESN = 5,
    }
}

registry! {
    /// Transform IDs for Transform Type 1, Encryption Algorithm.
    EncrId(u16) {
        /// ENCR_DES.
        ENCR_DES = 2,
        /// ENCR_3DES.
        ENCR_3DES = 3,
        /// ENCR_NULL.
        ENCR_NULL = 11,
        /// ENCR_AES_CBC (RFC 3602), with a Key Length attribute.
        ENCR_AES_CBC = 12,
        /// ENCR_AES_CTR (RFC 3686).
        ENCR_AES_CTR = 13,
        /// ENCR_AES_CCM_8 (RFC 4309).
        ENCR_AES_CCM_8 = 14,
        /// ENCR_AES_CCM_12.
        ENCR_AES_CCM_12 = 15,
        /// ENCR_AES_CCM_16.
        ENCR_AES_CCM_16 = 16,
        /// ENCR_AES_GCM_8 (RFC 4106, RFC 5282).
        ENCR_AES_GCM_8 = 18,
        /// ENCR_AES_GCM_12.
        ENCR_AES_GCM_12 = 19,
        /// ENCR_AES_GCM_16, with a Key Length attribute.
        ENCR_AES_GCM_16 = 20,
        /// ENCR_NULL_AUTH_AES_GMAC (RFC 4543).
        ENCR_NULL_AUTH_AES_GMAC = 21,
        /// ENCR_CAMELLIA_CBC (RFC 5529).
        ENCR_CAMELLIA_CBC = 23,
        /// ENCR_CHACHA20_POLY1305 (RFC 7634).
        ENCR_CHACHA20_POLY1305 = 28,
    }
}

registry! {
    /// Transform IDs for Transform Type 2, Pseudorandom Function.
    PrfId(u16) {
        /// PRF_HMAC_MD5.
        PRF_HMAC_MD5 = 1,
        /// PRF_HMAC_SHA1.
        PRF_HMAC_SHA1 = 2,
        /// PRF_AES128_XCBC (RFC 4434).
        PRF_AES128_XCBC = 4,
        /// PRF_HMAC_SHA2_256 (RFC 4868).
        PRF_HMAC_SHA2_256 = 5,
        /// PRF_HMAC_SHA2_384.
        PRF_HMAC_SHA2_384 = 6,
        /// PRF_HMAC_SHA2_512.
        PRF_HMAC_SHA2_512 = 7,
        /// PRF_AES128_CMAC (RFC 4615).
        PRF_AES128_CMAC = 8,
    }
}

registry! {
    /// Transform IDs for Transform Type 3, Integrity Algorithm.
    IntegId(u16) {
        /// NONE.
        NONE = 0,
        /// AUTH_HMAC_MD5_96.
        AUTH_HMAC_MD5_96 = 1,
        /// AUTH_HMAC_SHA1_96.
        AUTH_HMAC_SHA1_96 = 2,
        /// AUTH_AES_XCBC_96.
        AUTH_AES_XCBC_96 = 5,
        /// AUTH_HMAC_MD5_128.
        AUTH_HMAC_MD5_128 = 6,
        /// AUTH_HMAC_SHA1_160.
        AUTH_HMAC_SHA1_160 = 7,
        /// AUTH_AES_CMAC_96.
        AUTH_AES_CMAC_96 = 8,
        /// AUTH_AES_128_GMAC.
        AUTH_AES_128_GMAC = 9,
        /// AUTH_AES_192_GMAC.
        AUTH_AES_192_GMAC = 10,
        /// AUTH_AES_256_GMAC.
        AUTH_AES_256_GMAC = 11,
        /// AUTH_HMAC_SHA2_256_128 (RFC 4868).
        AUTH_HMAC_SHA2_256_128 = 12,
        /// AUTH_HMAC_SHA2_384_192.
        AUTH_HMAC_SHA2_384_192 = 13,
        /// AUTH_HMAC_SHA2_512_256.
        AUTH_HMAC_SHA2_512_256 = 14,
    }
}

registry! {
    /// Transform IDs for Transform Type 4, Diffie-Hellman Group (Key
    /// Exchange Method); also the group number of the KE payload.
    DhGroup(u16) {
        /// NONE (no PFS in a CREATE_CHILD_SA proposal).
        NONE = 0,
        /// 768-bit MODP Group.
        MODP_768 = 1,
        /// 1024-bit MODP Group.
        MODP_1024 = 2,
        /// 1536-bit MODP Group.
        MODP_1536 = 5,
        /// 2048-bit MODP Group.
        MODP_2048 = 14,
        /// 3072-bit MODP Group.
        MODP_3072 = 15,
        /// 4096-bit MODP Group.
        MODP_4096 = 16,
        /// 6144-bit MODP Group.
        MODP_6144 = 17,
        /// 8192-bit MODP Group.
        MODP_8192 = 18,
        /// 256-bit random ECP group (RFC 5903).
        ECP_256 = 19,
        /// 384-bit random ECP group.
        ECP_384 = 20,
        /// 521-bit random ECP group.
        ECP_521 = 21,
        /// 1024-bit MODP Group with 160-bit Prime Order Subgroup (RFC 5114).
        MODP_1024_160 = 22,
        /// 2048-bit MODP Group with 224-bit Prime Order Subgroup.
        MODP_2048_224 = 23,
        /// 2048-bit MODP Group with 256-bit Prime Order Subgroup.
        MODP_2048_256 = 24,
        /// 192-bit Random ECP Group.
        ECP_192 = 25,
        /// 224-bit Random ECP Group.
        ECP_224 = 26,
        /// brainpoolP224r1 (RFC 6954).
        BRAINPOOL_P224R1 = 27,
        /// brainpoolP256r1.
        BRAINPOOL_P256R1 = 28,
        /// brainpoolP384r1.
        BRAINPOOL_P384R1 = 29,
        /// brainpoolP512r1.
        BRAINPOOL_P512R1 = 30,
        /// Curve25519 (RFC 8031).
        CURVE25519 = 31,
        /// Curve448 (RFC 8031).
        CURVE448 = 32,
    }
}

registry! {
    /// Transform IDs for Transform Type 5, Extended Sequence Numbers.
    EsnId(u16) {
        /// No Extended Sequence Numbers.
        NO_ESN = 0,
        /// Extended Sequence Numbers.
        ESN = 1,
    }
}

registry! {
    /// Transform Attribute Type (RFC 7296 section 3.3.5), the 15-bit type
    /// without the AF bit.
    AttributeType(u16) {
        /// Key Length in bits (TV format).
        KEY_LENGTH = 14,
    }
}

registry! {
    /// ID Type of the IDi/IDr payloads (RFC 7296 section 3.5).
    IdType(u8) {
        /// A four-octet IPv4 address.
        ID_IPV4_ADDR = 1,
        /// A fully-qualified domain name, ASCII, no terminator.
        ID_FQDN = 2,
        /// An RFC 822 email address, no terminator.
        ID_RFC822_ADDR = 3,
        /// A sixteen-octet IPv6 address.
        ID_IPV6_ADDR = 5,
        /// DER encoding of an ASN.1 X.500 Distinguished Name.
        ID_DER_ASN1_DN = 9,
        /// DER encoding of an ASN.1 X.509 GeneralName.
        ID_DER_ASN1_GN = 10,
        /// An opaque octet string.
        ID_KEY_ID = 11,
        /// Fibre Channel name (RFC 4595).
        ID_FC_NAME = 12,
        /// The NULL identity (RFC 7619).
        ID_NULL = 13,
    }
}

registry! {
    /// Authentication Method of the AUTH payload (RFC 7296 section 3.8).
    AuthMethod(u8) {
        /// RSA Digital Signature (PKCS#1 v1.5 with SHA-1).
        RSA_DIGITAL_SIGNATURE = 1,
        /// Shared Key Message Integrity Code (PSK).
        SHARED_KEY_MESSAGE_INTEGRITY_CODE = 2,
        /// DSS Digital Signature.
        DSS_DIGITAL_SIGNATURE = 3,
        /// ECDSA with SHA-256 on the P-256 curve (RFC 4754).
        ECDSA_SHA256_P256 = 9,
        /// ECDSA with SHA-384 on the P-384 curve.
        ECDSA_SHA384_P384 = 10,
        /// ECDSA with SHA-512 on the P-521 curve.
        ECDSA_SHA512_P521 = 11,
        /// Generic Secure Password Authentication Method (RFC 6467).
        GENERIC_SECURE_PASSWORD = 12,
        /// NULL Authentication (RFC 7619).
        NULL_AUTH = 13,
        /// Digital Signature (RFC 7427).
        DIGITAL_SIGNATURE = 14,
    }
}

impl AuthMethod {
    /// Short alias of [`AuthMethod::SHARED_KEY_MESSAGE_INTEGRITY_CODE`].
    pub const PSK: AuthMethod = AuthMethod::SHARED_KEY_MESSAGE_INTEGRITY_CODE;
}

registry! {
    /// Certificate Encoding of the CERT and CERTREQ payloads (RFC 7296
    /// section 3.6).
    CertEncoding(u8) {
        /// PKCS #7 wrapped X.509 certificate.
        PKCS7_X509 = 1,
        /// PGP Certificate.
        PGP = 2,
        /// DNS Signed Key.
        DNS_SIGNED_KEY = 3,
        /// X.509 Certificate - Signature.
        X509_SIGNATURE = 4,
        /// Kerberos Token.
        KERBEROS_TOKEN = 6,
        /// Certificate Revocation List (CRL).
        CRL = 7,
        /// Authority Revocation List (ARL).
        ARL = 8,
        /// SPKI Certificate.
        SPKI = 9,
        /// X.509 Certificate - Attribute.
        X509_ATTRIBUTE = 10,
        /// Raw RSA Key (deprecated).
        RAW_RSA_KEY = 11,
        /// Hash and URL of X.509 certificate.
        HASH_URL_X509_CERT = 12,
        /// Hash and URL of X.509 bundle.
        HASH_URL_X509_BUNDLE = 13,
        /// Raw Public Key (RFC 7670).
        RAW_PUBLIC_KEY = 15,
    }
}

registry! {
    /// Traffic Selector Type (RFC 7296 section 3.13.1).
    TsType(u8) {
        /// A range of IPv4 addresses.
        TS_IPV4_ADDR_RANGE = 7,
        /// A range of IPv6 addresses.
        TS_IPV6_ADDR_RANGE = 8,
        /// Fibre Channel address range (RFC 4595).
        TS_FC_ADDR_RANGE = 9,
        /// Security label (RFC 9478).
        TS_SECLABEL = 10,
    }
}

registry! {
    /// CFG Type of the Configuration payload (RFC 7296 section 3.15).
    CfgType(u8) {
        /// CFG_REQUEST.
        CFG_REQUEST = 1,
        /// CFG_REPLY.
        CFG_REPLY = 2,
        /// CFG_SET.
        CFG_SET = 3,
        /// CFG_ACK.
        CFG_ACK = 4,
    }
}

registry! {
    /// Configuration Attribute Type (RFC 7296 section 3.15.1), 15 bits.
    CfgAttrType(u16) {
        /// INTERNAL_IP4_ADDRESS.
        INTERNAL_IP4_ADDRESS = 1,
        /// INTERNAL_IP4_NETMASK.
        INTERNAL_IP4_NETMASK = 2,
        /// INTERNAL_IP4_DNS.
        INTERNAL_IP4_DNS = 3,
        /// INTERNAL_IP4_NBNS.
        INTERNAL_IP4_NBNS = 4,
        /// INTERNAL_IP4_DHCP.
        INTERNAL_IP4_DHCP = 6,
        /// APPLICATION_VERSION.
        APPLICATION_VERSION = 7,
        /// INTERNAL_IP6_ADDRESS.
        INTERNAL_IP6_ADDRESS = 8,
        /// INTERNAL_IP6_DNS.
        INTERNAL_IP6_DNS = 10,
        /// INTERNAL_IP6_DHCP.
        INTERNAL_IP6_DHCP = 12,
        /// INTERNAL_IP4_SUBNET.
        INTERNAL_IP4_SUBNET = 13,
        /// SUPPORTED_ATTRIBUTES.
        SUPPORTED_ATTRIBUTES = 14,
        /// INTERNAL_IP6_SUBNET.
        INTERNAL_IP6_SUBNET = 15,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_survive_and_print() {
        let t = PayloadType(99);
        assert_eq!(t.name(), None);
        assert_eq!(format!("{t:?}"), "PayloadType(99)");
        assert_eq!(format!("{:?}", PayloadType::SKF), "SKF");
        assert_eq!(u16::from(DhGroup::CURVE25519), 31);
        assert_eq!(
            AuthMethod::PSK.name(),
            Some("SHARED_KEY_MESSAGE_INTEGRITY_CODE")
        );
    }
}
