//! The BFD Control packet (RFC 5880 section 4.1) as a parse/emit pair.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! |                      Your Discriminator                       |
//! |                    Desired Min TX Interval                    |
//! |                   Required Min RX Interval                    |
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Auth Len    |    Authentication Data...     |  (A bit set)
//! ```
//!
//! [`ControlPacket::parse`] applies the reception checks of RFC 5880
//! section 6.8.6 that concern the packet alone; the checks that need a
//! session (Your Discriminator matching, authentication in use) are made
//! by [`crate::Session::receive`].

use std::fmt;

/// The BFD protocol version (RFC 5880 section 4.1).
pub const VERSION: u8 = 1;
/// The length of a Control packet without authentication section.
pub const MIN_LEN: usize = 24;
/// The largest authentication data: the Length field is one octet, and
/// covers the 24 mandatory octets and the 2 octets of type and length.
pub const MAX_AUTH_DATA: usize = 255 - MIN_LEN - 2;

const FLAG_P: u8 = 0x20;
const FLAG_F: u8 = 0x10;
const FLAG_C: u8 = 0x08;
const FLAG_A: u8 = 0x04;
const FLAG_D: u8 = 0x02;
const FLAG_M: u8 = 0x01;

/// A session state (RFC 5880 section 4.1, "Sta").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// 0: administratively down.
    AdminDown,
    /// 1: down.
    Down,
    /// 2: initializing (the three-way handshake's middle step).
    Init,
    /// 3: up.
    Up,
}

impl State {
    /// The state of the two-bit field value (the upper bits are ignored).
    pub fn from_bits(v: u8) -> State {
        match v & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    /// The two-bit field value.
    pub fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        })
    }
}

/// A diagnostic code (RFC 5880 section 4.1, "Diag").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Diag {
    /// 0: no diagnostic.
    None,
    /// 1: Control Detection Time Expired.
    ControlDetectionTimeExpired,
    /// 2: Echo Function Failed.
    EchoFunctionFailed,
    /// 3: Neighbor Signaled Session Down.
    NeighborSignaledDown,
    /// 4: Forwarding Plane Reset.
    ForwardingPlaneReset,
    /// 5: Path Down.
    PathDown,
    /// 6: Concatenated Path Down.
    ConcatenatedPathDown,
    /// 7: Administratively Down.
    AdminDown,
    /// 8: Reverse Concatenated Path Down.
    ReverseConcatenatedPathDown,
    /// 9-31: reserved for future use (kept as received).
    Reserved(u8),
}

impl Diag {
    /// The code of the five-bit field value (the upper bits are ignored).
    pub fn from_bits(v: u8) -> Diag {
        match v & 0x1f {
            0 => Diag::None,
            1 => Diag::ControlDetectionTimeExpired,
            2 => Diag::EchoFunctionFailed,
            3 => Diag::NeighborSignaledDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdminDown,
            8 => Diag::ReverseConcatenatedPathDown,
            v => Diag::Reserved(v),
        }
    }

    /// The five-bit field value (a `Reserved` value is masked to 5 bits).
    pub fn bits(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::ControlDetectionTimeExpired => 1,
            Diag::EchoFunctionFailed => 2,
            Diag::NeighborSignaledDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdminDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Reserved(v) => v & 0x1f,
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diag::None => f.write_str("No Diagnostic"),
            Diag::ControlDetectionTimeExpired => f.write_str("Control Detection Time Expired"),
            Diag::EchoFunctionFailed => f.write_str("Echo Function Failed"),
            Diag::NeighborSignaledDown => f.write_str("Neighbor Signaled Session Down"),
            Diag::ForwardingPlaneReset => f.write_str("Forwarding Plane Reset"),
            Diag::PathDown => f.write_str("Path Down"),
            Diag::ConcatenatedPathDown => f.write_str("Concatenated Path Down"),
            Diag::AdminDown => f.write_str("Administratively Down"),
            Diag::ReverseConcatenatedPathDown => f.write_str("Reverse Concatenated Path Down"),
            Diag::Reserved(v) => write!(f, "Reserved ({v})"),
        }
    }
}

/// The optional authentication section (RFC 5880 section 4.1), kept raw:
/// rvpn does not authenticate BFD.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Auth {
    auth_type: u8,
    data: Vec<u8>,
}

impl Auth {
    /// A section of this type and data (what follows Auth Type and Auth
    /// Len), or `None` when the data is longer than [`MAX_AUTH_DATA`].
    pub fn new(auth_type: u8, data: Vec<u8>) -> Option<Auth> {
        (data.len() <= MAX_AUTH_DATA).then_some(Auth { auth_type, data })
    }

    /// Auth Type (1 simple password, 2/3 keyed MD5, 4/5 keyed SHA1).
    pub fn auth_type(&self) -> u8 {
        self.auth_type
    }

    /// The octets after Auth Type and Auth Len.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The section's length on the wire (Auth Len).
    pub fn wire_len(&self) -> usize {
        2 + self.data.len()
    }
}

/// Why a received Control packet is discarded (RFC 5880 section 6.8.6,
/// the checks on the packet alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketError {
    /// Fewer octets than the mandatory section or the Length field says.
    Truncated,
    /// The version is not 1.
    BadVersion(u8),
    /// Length below 24, or below 26 with the A bit set.
    BadLength(u8),
    /// The authentication section's Auth Len is below 2 or runs past Length.
    BadAuthLength(u8),
    /// Detect Mult is zero.
    ZeroDetectMult,
    /// The M (multipoint) bit is set.
    Multipoint,
    /// My Discriminator is zero.
    ZeroMyDiscriminator,
    /// Your Discriminator is zero in a state other than Down or AdminDown.
    ZeroYourDiscriminator(State),
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::Truncated => f.write_str("truncated BFD control packet"),
            PacketError::BadVersion(v) => write!(f, "BFD version {v}, expected 1"),
            PacketError::BadLength(l) => write!(f, "bad BFD length {l}"),
            PacketError::BadAuthLength(l) => write!(f, "bad BFD auth length {l}"),
            PacketError::ZeroDetectMult => f.write_str("BFD detect mult 0"),
            PacketError::Multipoint => f.write_str("BFD multipoint bit set"),
            PacketError::ZeroMyDiscriminator => f.write_str("BFD my discriminator 0"),
            PacketError::ZeroYourDiscriminator(s) => {
                write!(f, "BFD your discriminator 0 in state {s}")
            }
        }
    }
}

impl std::error::Error for PacketError {}

/// A BFD Control packet (RFC 5880 section 4.1). The version is always 1,
/// the M bit always 0, the A bit set exactly when `auth` is present, and
/// Length is computed on emission. Intervals are in microseconds, as on
/// the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ControlPacket {
    /// The sender's diagnostic code.
    pub diag: Diag,
    /// The sender's session state.
    pub state: State,
    /// P: Poll.
    pub poll: bool,
    /// F: Final.
    pub final_: bool,
    /// C: Control Plane Independent.
    pub cpi: bool,
    /// D: Demand.
    pub demand: bool,
    /// Detect Mult (never 0 in a parsed packet).
    pub detect_mult: u8,
    /// My Discriminator (never 0 in a parsed packet).
    pub my_discr: u32,
    /// Your Discriminator (0 when the sender does not know it yet).
    pub your_discr: u32,
    /// Desired Min TX Interval, microseconds.
    pub desired_min_tx_us: u32,
    /// Required Min RX Interval, microseconds.
    pub required_min_rx_us: u32,
    /// Required Min Echo RX Interval, microseconds.
    pub required_min_echo_rx_us: u32,
    /// The authentication section (A bit), raw.
    pub auth: Option<Auth>,
}

fn be32(buf: &[u8], at: usize) -> Result<u32, PacketError> {
    buf.get(at..at + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
        .ok_or(PacketError::Truncated)
}

impl ControlPacket {
    /// Parses the octets of a UDP payload. Octets past the Length field are
    /// ignored (RFC 5880 only requires Length not to exceed the payload).
    pub fn parse(buf: &[u8]) -> Result<ControlPacket, PacketError> {
        let (&b0, &b1, &detect_mult, &length) = match buf {
            [b0, b1, m, l, ..] => (b0, b1, m, l),
            _ => return Err(PacketError::Truncated),
        };
        let version = b0 >> 5;
        if version != VERSION {
            return Err(PacketError::BadVersion(version));
        }
        let has_auth = b1 & FLAG_A != 0;
        let len = usize::from(length);
        if len < MIN_LEN || (has_auth && len < MIN_LEN + 2) {
            return Err(PacketError::BadLength(length));
        }
        if len > buf.len() {
            return Err(PacketError::Truncated);
        }
        if detect_mult == 0 {
            return Err(PacketError::ZeroDetectMult);
        }
        if b1 & FLAG_M != 0 {
            return Err(PacketError::Multipoint);
        }
        let my_discr = be32(buf, 4)?;
        if my_discr == 0 {
            return Err(PacketError::ZeroMyDiscriminator);
        }
        let your_discr = be32(buf, 8)?;
        let state = State::from_bits(b1 >> 6);
        if your_discr == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(PacketError::ZeroYourDiscriminator(state));
        }
        let auth = if has_auth {
            let (&auth_type, &auth_len) = match buf.get(MIN_LEN..MIN_LEN + 2) {
                Some([t, l]) => (t, l),
                _ => return Err(PacketError::Truncated),
            };
            let alen = usize::from(auth_len);
            if alen < 2 || MIN_LEN + alen > len {
                return Err(PacketError::BadAuthLength(auth_len));
            }
            let data = buf
                .get(MIN_LEN + 2..MIN_LEN + alen)
                .ok_or(PacketError::Truncated)?;
            Some(Auth {
                auth_type,
                data: data.to_vec(),
            })
        } else {
            None
        };
        Ok(ControlPacket {
            diag: Diag::from_bits(b0),
            state,
            poll: b1 & FLAG_P != 0,
            final_: b1 & FLAG_F != 0,
            cpi: b1 & FLAG_C != 0,
            demand: b1 & FLAG_D != 0,
            detect_mult,
            my_discr,
            your_discr,
            desired_min_tx_us: be32(buf, 12)?,
            required_min_rx_us: be32(buf, 16)?,
            required_min_echo_rx_us: be32(buf, 20)?,
            auth,
        })
    }

    /// The packet's length on the wire (the Length field).
    pub fn wire_len(&self) -> usize {
        MIN_LEN + self.auth.as_ref().map_or(0, Auth::wire_len)
    }

    /// Appends the packet's octets to `out`. The fields are written as they
    /// are: a packet built by hand with, say, Detect Mult 0 is emitted so.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let mut b1 = self.state.bits() << 6;
        for (set, bit) in [
            (self.poll, FLAG_P),
            (self.final_, FLAG_F),
            (self.cpi, FLAG_C),
            (self.auth.is_some(), FLAG_A),
            (self.demand, FLAG_D),
        ] {
            if set {
                b1 |= bit;
            }
        }
        // At most 24 + 2 + MAX_AUTH_DATA = 255 (Auth::new enforces it).
        let length = u8::try_from(self.wire_len()).unwrap_or(u8::MAX);
        out.extend_from_slice(&[
            (VERSION << 5) | self.diag.bits(),
            b1,
            self.detect_mult,
            length,
        ]);
        for v in [
            self.my_discr,
            self.your_discr,
            self.desired_min_tx_us,
            self.required_min_rx_us,
            self.required_min_echo_rx_us,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        if let Some(a) = &self.auth {
            out.push(a.auth_type);
            out.push(u8::try_from(a.wire_len()).unwrap_or(u8::MAX));
            out.extend_from_slice(&a.data);
        }
    }

    /// The packet's octets.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.wire_len());
        self.emit(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> ControlPacket {
        ControlPacket {
            diag: Diag::None,
            state: State::Up,
            poll: false,
            final_: false,
            cpi: false,
            demand: false,
            detect_mult: 3,
            my_discr: 0x0102_0304,
            your_discr: 0x0a0b_0c0d,
            desired_min_tx_us: 300_000,
            required_min_rx_us: 300_000,
            required_min_echo_rx_us: 0,
            auth: None,
        }
    }

    /// Built by hand from the RFC 5880 section 4.1 layout.
    const UP_VECTOR: [u8; 24] = [
        0x20, // version 1, diag 0
        0xc0, // state Up (3 << 6), no flags
        0x03, // detect mult
        0x18, // length 24
        0x01, 0x02, 0x03, 0x04, // my discr
        0x0a, 0x0b, 0x0c, 0x0d, // your discr
        0x00, 0x04, 0x93, 0xe0, // desired min tx 300000
        0x00, 0x04, 0x93, 0xe0, // required min rx 300000
        0x00, 0x00, 0x00, 0x00, // required min echo rx
    ];

    #[test]
    fn parses_hand_built_vector() {
        assert_eq!(ControlPacket::parse(&UP_VECTOR), Ok(sample()));
        assert_eq!(sample().to_vec(), UP_VECTOR);
    }

    #[test]
    fn flags_diag_and_state_bits() {
        // Down, diag 3, P and D set, your discr 0.
        let mut v = UP_VECTOR;
        v[0] = 0x23;
        v[1] = 0x40 | 0x20 | 0x02;
        v[8..12].copy_from_slice(&[0; 4]);
        let p = ControlPacket::parse(&v).unwrap();
        assert_eq!(p.diag, Diag::NeighborSignaledDown);
        assert_eq!(p.state, State::Down);
        assert!(p.poll && p.demand && !p.final_ && !p.cpi);
        assert_eq!(p.your_discr, 0);
        assert_eq!(p.to_vec(), v);
        // F and C, reserved diag 31.
        let mut v = UP_VECTOR;
        v[0] = 0x3f;
        v[1] = 0xc0 | 0x10 | 0x08;
        let p = ControlPacket::parse(&v).unwrap();
        assert_eq!(p.diag, Diag::Reserved(31));
        assert!(p.final_ && p.cpi && !p.poll);
        assert_eq!(p.to_vec(), v);
    }

    #[test]
    fn parses_auth_section_raw() {
        // Simple password (type 1): Auth Key ID 5, password "secret".
        let mut v = UP_VECTOR.to_vec();
        v[1] |= 0x04;
        let section = [1u8, 9, 5, b's', b'e', b'c', b'r', b'e', b't'];
        v[3] = (24 + section.len()) as u8;
        v.extend_from_slice(&section);
        let p = ControlPacket::parse(&v).unwrap();
        let a = p.auth.as_ref().unwrap();
        assert_eq!(a.auth_type(), 1);
        assert_eq!(a.data(), &section[2..]);
        assert_eq!(p.to_vec(), v);
        // Auth Len past Length, and below 2.
        let mut bad = v.clone();
        bad[25] = 10;
        assert_eq!(
            ControlPacket::parse(&bad),
            Err(PacketError::BadAuthLength(10))
        );
        bad[25] = 1;
        assert_eq!(
            ControlPacket::parse(&bad),
            Err(PacketError::BadAuthLength(1))
        );
        // A bit with Length 24.
        let mut bad = UP_VECTOR;
        bad[1] |= 0x04;
        assert_eq!(ControlPacket::parse(&bad), Err(PacketError::BadLength(24)));
    }

    #[test]
    fn reception_checks() {
        let check = |f: &dyn Fn(&mut Vec<u8>), e: PacketError| {
            let mut v = UP_VECTOR.to_vec();
            f(&mut v);
            assert_eq!(ControlPacket::parse(&v), Err(e));
        };
        check(&|v| v[0] = 0x40, PacketError::BadVersion(2));
        check(&|v| v[0] = 0x00, PacketError::BadVersion(0));
        check(&|v| v[3] = 23, PacketError::BadLength(23));
        check(&|v| v[3] = 25, PacketError::Truncated);
        check(&|v| v.truncate(23), PacketError::Truncated);
        check(&|v| v.truncate(3), PacketError::Truncated);
        check(&|v| v[2] = 0, PacketError::ZeroDetectMult);
        check(&|v| v[1] |= 0x01, PacketError::Multipoint);
        check(&|v| v[4..8].fill(0), PacketError::ZeroMyDiscriminator);
        check(
            &|v| v[8..12].fill(0),
            PacketError::ZeroYourDiscriminator(State::Up),
        );
        check(
            &|v| {
                v[8..12].fill(0);
                v[1] = 0x80;
            },
            PacketError::ZeroYourDiscriminator(State::Init),
        );
        // Your discr 0 is fine in AdminDown; trailing octets past Length too.
        let mut v = UP_VECTOR.to_vec();
        v[8..12].fill(0);
        v[1] = 0x00;
        v.extend_from_slice(&[0xff; 8]);
        let p = ControlPacket::parse(&v).unwrap();
        assert_eq!(p.state, State::AdminDown);
        assert_eq!(p.to_vec(), v[..24]);
    }

    #[test]
    fn auth_data_bound() {
        assert!(Auth::new(2, vec![0; MAX_AUTH_DATA]).is_some());
        assert!(Auth::new(2, vec![0; MAX_AUTH_DATA + 1]).is_none());
        let mut p = sample();
        p.auth = Auth::new(2, vec![7; MAX_AUTH_DATA]);
        let v = p.to_vec();
        assert_eq!(v.len(), 255);
        assert_eq!(ControlPacket::parse(&v), Ok(p));
    }

    fn arb_packet() -> impl Strategy<Value = ControlPacket> {
        (
            (0u8..32, 0u8..4, any::<[bool; 4]>(), 1u8..=255),
            (1u32.., any::<u32>(), any::<[u32; 3]>()),
            proptest::option::of((any::<u8>(), proptest::collection::vec(any::<u8>(), 0..40))),
        )
            .prop_map(|((d, s, fl, m), (my, your, iv), auth)| {
                let state = State::from_bits(s);
                let your = if your == 0 && matches!(state, State::Up | State::Init) {
                    1
                } else {
                    your
                };
                ControlPacket {
                    diag: Diag::from_bits(d),
                    state,
                    poll: fl[0],
                    final_: fl[1],
                    cpi: fl[2],
                    demand: fl[3],
                    detect_mult: m,
                    my_discr: my,
                    your_discr: your,
                    desired_min_tx_us: iv[0],
                    required_min_rx_us: iv[1],
                    required_min_echo_rx_us: iv[2],
                    auth: auth.and_then(|(t, d)| Auth::new(t, d)),
                }
            })
    }

    proptest! {
        #[test]
        fn round_trip(p in arb_packet()) {
            let v = p.to_vec();
            prop_assert_eq!(v.len(), p.wire_len());
            prop_assert_eq!(usize::from(v[3]), v.len());
            prop_assert_eq!(ControlPacket::parse(&v), Ok(p));
        }

        #[test]
        fn never_panics(v in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(p) = ControlPacket::parse(&v) {
                let out = p.to_vec();
                prop_assert_eq!(ControlPacket::parse(&out), Ok(p));
            }
        }

        #[test]
        fn never_panics_near_valid(mut v in proptest::collection::vec(any::<u8>(), 24..60), len in 0u8..64) {
            // Mostly valid headers, so the deeper checks are reached.
            v[0] = 0x20 | (v[0] & 0x1f);
            v[1] &= !0x01;
            v[2] |= 1;
            v[3] = len;
            v[4] |= 1;
            if let Ok(p) = ControlPacket::parse(&v) {
                prop_assert_eq!(ControlPacket::parse(&p.to_vec()), Ok(p));
            }
        }
    }
}
