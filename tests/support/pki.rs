//! A throwaway PKI made with openssl at test time: CAs (root and
//! intermediate), end-entity certificates with subjectAltNames, expired
//! ones, CRLs. `openssl ca` keeps a database per CA, so revocation and
//! back-dated validity work as in a real PKI.

use super::{run_ok, Scratch};
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The key of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// RSA of this many bits.
    Rsa(u32),
    /// ECDSA P-256.
    P256,
    /// ECDSA P-384.
    P384,
}

/// How a private key file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyForm {
    /// PKCS#8 PEM ("PRIVATE KEY").
    Pkcs8,
    /// PKCS#1 ("RSA PRIVATE KEY") or SEC1 ("EC PRIVATE KEY") PEM.
    Traditional,
    /// PKCS#8 DER.
    Der,
}

/// A certificate and its key, as files.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Directory name of the issuing CA's database (for CAs: their own).
    pub name: String,
    /// The certificate, PEM.
    pub cert: PathBuf,
    /// The private key, PKCS#8 PEM unless re-written with [`Pki::key_as`].
    pub key: PathBuf,
    /// Subject as given to openssl ("/CN=spoke1/O=Lab").
    pub subject: String,
    /// The serial number (hex, as openssl ca writes it).
    pub serial: String,
    /// The CA's own directory (CAs only).
    ca_dir: Option<PathBuf>,
}

/// The PKI's directory.
pub struct Pki {
    dir: Scratch,
    serial: AtomicU32,
}

fn openssl(args: &[&str]) -> String {
    run_ok(Command::new("openssl").args(args))
}

impl Pki {
    /// An empty PKI directory.
    pub fn new(tag: &str) -> Pki {
        Pki {
            dir: Scratch::new(tag),
            serial: AtomicU32::new(0x10),
        }
    }

    /// A path inside the PKI directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn genkey(&self, name: &str, kt: KeyType) -> PathBuf {
        let key = self.path(&format!("{name}.key"));
        let k = key.to_string_lossy().to_string();
        match kt {
            KeyType::Rsa(bits) => {
                let b = format!("rsa_keygen_bits:{bits}");
                openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", &b, "-out", &k]);
            }
            KeyType::P256 | KeyType::P384 => {
                let c = if kt == KeyType::P256 {
                    "ec_paramgen_curve:P-256"
                } else {
                    "ec_paramgen_curve:P-384"
                };
                openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", c, "-out", &k]);
            }
        }
        key
    }

    /// A self-signed root CA.
    pub fn root(&self, name: &str, subject: &str, kt: KeyType) -> Issued {
        let key = self.genkey(name, kt);
        let cert = self.path(&format!("{name}.pem"));
        let serial = format!("{:02X}", self.serial.fetch_add(1, Ordering::SeqCst));
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &key.to_string_lossy(),
            "-subj",
            subject,
            "-days",
            "3650",
            "-sha256",
            "-set_serial",
            &format!("0x{serial}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-addext",
            "subjectKeyIdentifier=hash",
            "-out",
            &cert.to_string_lossy(),
        ]);
        let ca_dir = self.ca_dir(name);
        Issued {
            name: name.into(),
            cert,
            key,
            subject: subject.into(),
            serial,
            ca_dir: Some(ca_dir),
        }
    }

    fn ca_dir(&self, name: &str) -> PathBuf {
        let d = self.path(&format!("{name}.db"));
        fs::create_dir_all(d.join("new")).expect("ca dir");
        fs::write(d.join("index.txt"), "").expect("index");
        fs::write(d.join("crlnumber"), "01\n").expect("crlnumber");
        fs::write(d.join("serial"), "01\n").expect("serial");
        let conf = format!(
            "[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\ndir = {}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/new\nserial = $dir/serial\ncrlnumber = $dir/crlnumber\ndefault_md = sha256\npolicy = policy_any\nunique_subject = no\npreserve = yes\nemail_in_dn = yes\ndefault_crl_days = 30\ncrl_extensions = crl_ext\n[ crl_ext ]\nauthorityKeyIdentifier = keyid:always\n[ policy_any ]\ncountryName = optional\norganizationName = optional\norganizationalUnitName = optional\ncommonName = optional\nemailAddress = optional\n",
            d.display()
        );
        fs::write(d.join("ca.cnf"), conf).expect("ca.cnf");
        d
    }

    /// Issue a certificate from `ca` with `extensions` (openssl extfile
    /// lines), valid from `start` to `end` (openssl ca's
    /// YYYYMMDDHHMMSSZ; None: now and 10 years on).
    #[allow(clippy::too_many_arguments)]
    fn issue(
        &self,
        ca: &Issued,
        name: &str,
        subject: &str,
        kt: KeyType,
        extensions: &str,
        start: Option<&str>,
        end: Option<&str>,
        ca_dir: Option<PathBuf>,
    ) -> Issued {
        let db = ca.ca_dir.as_ref().expect("issuer is a CA");
        let key = self.genkey(name, kt);
        let csr = self.path(&format!("{name}.csr"));
        openssl(&[
            "req",
            "-new",
            "-key",
            &key.to_string_lossy(),
            "-subj",
            subject,
            "-out",
            &csr.to_string_lossy(),
        ]);
        let ext = self.path(&format!("{name}.ext"));
        fs::write(&ext, extensions).expect("ext");
        let serial = format!("{:02X}", self.serial.fetch_add(1, Ordering::SeqCst));
        fs::write(db.join("serial"), format!("{serial}\n")).expect("serial");
        let cert = self.path(&format!("{name}.pem"));
        let conf = db.join("ca.cnf").to_string_lossy().to_string();
        let mut args: Vec<String> = [
            "ca",
            "-batch",
            "-notext",
            "-config",
            &conf,
            "-cert",
            &ca.cert.to_string_lossy(),
            "-keyfile",
            &ca.key.to_string_lossy(),
            "-in",
            &csr.to_string_lossy(),
            "-out",
            &cert.to_string_lossy(),
            "-extfile",
            &ext.to_string_lossy(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match (start, end) {
            (Some(s), Some(e)) => {
                args.extend(["-startdate".into(), s.into(), "-enddate".into(), e.into()])
            }
            _ => args.extend(["-days".into(), "3650".into()]),
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        openssl(&refs);
        Issued {
            name: ca.name.clone(),
            cert,
            key,
            subject: subject.into(),
            serial,
            ca_dir,
        }
    }

    /// An intermediate CA under `ca`.
    pub fn intermediate(&self, ca: &Issued, name: &str, subject: &str, kt: KeyType) -> Issued {
        let dir = self.ca_dir(name);
        let mut i = self.issue(
            ca,
            name,
            subject,
            kt,
            "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
            None,
            None,
            Some(dir),
        );
        i.name = name.into();
        i
    }

    /// An end-entity certificate under `ca` with these subjectAltNames
    /// ("DNS:x", "email:y", "IP:z").
    pub fn leaf(
        &self,
        ca: &Issued,
        name: &str,
        subject: &str,
        sans: &[&str],
        kt: KeyType,
    ) -> Issued {
        self.issue(ca, name, subject, kt, &leaf_ext(sans), None, None, None)
    }

    /// An end-entity certificate that expired on 2026-01-01.
    pub fn expired_leaf(
        &self,
        ca: &Issued,
        name: &str,
        subject: &str,
        sans: &[&str],
        kt: KeyType,
    ) -> Issued {
        self.issue(
            ca,
            name,
            subject,
            kt,
            &leaf_ext(sans),
            Some("20250101000000Z"),
            Some("20260101000000Z"),
            None,
        )
    }

    /// Revoke `cert` (issued by `ca`) and write `ca`'s CRL; returns its path.
    pub fn revoke_and_crl(&self, ca: &Issued, revoked: &[&Issued]) -> PathBuf {
        let db = ca.ca_dir.as_ref().expect("a CA");
        let conf = db.join("ca.cnf").to_string_lossy().to_string();
        for r in revoked {
            openssl(&[
                "ca",
                "-batch",
                "-config",
                &conf,
                "-cert",
                &ca.cert.to_string_lossy(),
                "-keyfile",
                &ca.key.to_string_lossy(),
                "-revoke",
                &r.cert.to_string_lossy(),
            ]);
        }
        let crl = self.path(&format!("{}.crl", ca.name));
        openssl(&[
            "ca",
            "-batch",
            "-config",
            &conf,
            "-cert",
            &ca.cert.to_string_lossy(),
            "-keyfile",
            &ca.key.to_string_lossy(),
            "-gencrl",
            "-out",
            &crl.to_string_lossy(),
        ]);
        crl
    }

    /// Write `i`'s key again in `form`; returns the new path.
    pub fn key_as(&self, i: &Issued, form: KeyForm) -> PathBuf {
        let src = i.key.to_string_lossy().to_string();
        let stem = i
            .key
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("k")
            .to_string();
        match form {
            KeyForm::Pkcs8 => i.key.clone(),
            KeyForm::Traditional => {
                let out = self.path(&format!("{stem}.trad.pem"));
                openssl(&[
                    "pkey",
                    "-in",
                    &src,
                    "-traditional",
                    "-out",
                    &out.to_string_lossy(),
                ]);
                out
            }
            KeyForm::Der => {
                let out = self.path(&format!("{stem}.der"));
                openssl(&[
                    "pkey",
                    "-in",
                    &src,
                    "-outform",
                    "DER",
                    "-out",
                    &out.to_string_lossy(),
                ]);
                out
            }
        }
    }

    /// `a` followed by `b` in one PEM file (a certificate and its
    /// intermediates, as `certificate FILE` takes them).
    pub fn bundle(&self, name: &str, parts: &[&PathBuf]) -> PathBuf {
        let out = self.path(name);
        let mut text = String::new();
        for p in parts {
            text.push_str(&fs::read_to_string(p).expect("pem"));
        }
        fs::write(&out, text).expect("bundle");
        out
    }
}

fn leaf_ext(sans: &[&str]) -> String {
    let mut e = String::from(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nauthorityKeyIdentifier=keyid\n",
    );
    if !sans.is_empty() {
        e.push_str(&format!("subjectAltName={}\n", sans.join(",")));
    }
    e
}
