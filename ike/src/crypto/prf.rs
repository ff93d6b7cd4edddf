//! `prf` and `prf+` (RFC 7296 2.13) over the HMAC PRFs.

use super::alg::PrfAlg;
use super::secret::SecretBytes;
use super::CryptoError;
use ring::hmac;
use zeroize::Zeroizing;

impl PrfAlg {
    /// `prf(key, data)`. HMAC takes keys of any length.
    pub fn prf(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        self.prf_parts(key, &[data])
    }

    /// `prf(key, parts[0] | parts[1] | ...)` without concatenating first.
    pub fn prf_parts(&self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let key = hmac::Key::new(self.hmac(), key);
        let mut ctx = hmac::Context::with_key(&key);
        for p in parts {
            ctx.update(p);
        }
        ctx.sign().as_ref().to_vec()
    }

    /// `prf+(key, seed)` truncated to `len` bytes:
    /// `T1 = prf(K, S | 0x01)`, `Tn = prf(K, Tn-1 | S | n)`, at most 255
    /// blocks.
    pub fn prf_plus(
        &self,
        key: &[u8],
        seed: &[u8],
        len: usize,
    ) -> Result<SecretBytes, CryptoError> {
        self.prf_plus_parts(key, &[seed], len)
    }

    /// [`prf_plus`](Self::prf_plus) with the seed given in parts.
    pub fn prf_plus_parts(
        &self,
        key: &[u8],
        seed: &[&[u8]],
        len: usize,
    ) -> Result<SecretBytes, CryptoError> {
        let out_len = self.output_len();
        let blocks = len.div_ceil(out_len);
        if blocks > 255 {
            return Err(CryptoError::PrfPlusTooLong);
        }
        let key = hmac::Key::new(self.hmac(), key);
        let mut out = Zeroizing::new(Vec::with_capacity(blocks * out_len));
        let mut prev = Zeroizing::new(Vec::with_capacity(out_len));
        for n in 1..=blocks {
            let mut ctx = hmac::Context::with_key(&key);
            ctx.update(&prev);
            for s in seed {
                ctx.update(s);
            }
            // blocks <= 255, so n fits a byte.
            ctx.update(&[n as u8]);
            let tag = ctx.sign();
            prev.clear();
            prev.extend_from_slice(tag.as_ref());
            out.extend_from_slice(&prev);
        }
        out.truncate(len);
        Ok(SecretBytes::from_slice(&out))
    }
}
