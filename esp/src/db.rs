//! The inbound SA database for the decap path, keyed by SPI.
//!
//! Keyed by SPI alone, not by tunnel, so a rekey can be make-before-break:
//! the new inbound SA is inserted while the old one still accepts packets
//! in flight, and the old one is removed later. Each entry carries a
//! caller context `C` (for example the tunnel interface the inner packets
//! go to).

use crate::error::EspError;
use crate::sa::{InboundSa, Opened};
use crate::wire::peek_spi;
use std::collections::HashMap;

/// Inbound SAs by SPI, each with a caller context.
#[derive(Debug)]
pub struct SaDb<C = ()> {
    sas: HashMap<u32, (InboundSa, C)>,
    unknown_spi: u64,
}

impl<C> Default for SaDb<C> {
    fn default() -> Self {
        SaDb {
            sas: HashMap::new(),
            unknown_spi: 0,
        }
    }
}

impl<C> SaDb<C> {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs an inbound SA under its SPI; refuses a second SA with the
    /// same SPI.
    pub fn insert(&mut self, sa: InboundSa, context: C) -> Result<(), EspError> {
        let spi = sa.spi();
        match self.sas.entry(spi) {
            std::collections::hash_map::Entry::Occupied(_) => Err(EspError::DuplicateSpi { spi }),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert((sa, context));
                Ok(())
            }
        }
    }

    /// Removes the SA with this SPI, returning it and its context.
    pub fn remove(&mut self, spi: u32) -> Option<(InboundSa, C)> {
        self.sas.remove(&spi)
    }

    /// The SA with this SPI.
    pub fn get(&self, spi: u32) -> Option<&InboundSa> {
        self.sas.get(&spi).map(|(sa, _)| sa)
    }

    /// The SA with this SPI, mutable.
    pub fn get_mut(&mut self, spi: u32) -> Option<&mut InboundSa> {
        self.sas.get_mut(&spi).map(|(sa, _)| sa)
    }

    /// The context of the SA with this SPI.
    pub fn context(&self, spi: u32) -> Option<&C> {
        self.sas.get(&spi).map(|(_, c)| c)
    }

    /// Whether an SA with this SPI is installed.
    pub fn contains(&self, spi: u32) -> bool {
        self.sas.contains_key(&spi)
    }

    /// Number of SAs.
    pub fn len(&self) -> usize {
        self.sas.len()
    }

    /// True if no SA is installed.
    pub fn is_empty(&self) -> bool {
        self.sas.is_empty()
    }

    /// All SAs with their contexts, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&InboundSa, &C)> {
        self.sas.values().map(|(sa, c)| (sa, c))
    }

    /// Removes every SA for which `keep` returns false (for example all
    /// SAs of a tunnel that went down).
    pub fn retain(&mut self, mut keep: impl FnMut(&InboundSa, &C) -> bool) {
        self.sas.retain(|_, (sa, c)| keep(sa, c));
    }

    /// Packets dropped because no SA had their SPI (or they were too short
    /// to carry one).
    pub fn unknown_spi_drops(&self) -> u64 {
        self.unknown_spi
    }

    /// Finds the SA by the packet's SPI and opens the packet in place
    /// (see [`InboundSa::open_in_place`]); returns the inner packet and
    /// the SA's context.
    pub fn open_in_place<'a, 's>(
        &'s mut self,
        pkt: &'a mut [u8],
    ) -> Result<(Opened<'a>, &'s C), EspError> {
        let spi = match peek_spi(pkt) {
            Ok(spi) => spi,
            Err(e) => {
                self.unknown_spi += 1;
                return Err(e);
            }
        };
        let Some((sa, context)) = self.sas.get_mut(&spi) else {
            self.unknown_spi += 1;
            return Err(EspError::UnknownSpi { spi });
        };
        let opened = sa.open_in_place(pkt)?;
        Ok((opened, &*context))
    }
}
