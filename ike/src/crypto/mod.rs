//! IKEv2 cryptography: PRFs, key derivation, SK ciphers, DH groups, PSK AUTH.
