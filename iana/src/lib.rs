//! IANA registries as newtypes, for the wire formats of rvpn (`ike`,
//! `bgp`): [`registry!`] declares a type over the raw integer with a named
//! constant for each value the code knows. Any other value is still a value
//! of the type, so what this code does not know survives decoding and can be
//! logged and re-emitted.
//!
//! The macro's expansion uses `core` only: it works in `no_std` crates.
//!
//! ```
//! iana::registry! {
//!     /// Message Type in the BGP header (RFC 4271 section 4.1).
//!     MessageType(u8) {
//!         /// OPEN.
//!         OPEN = 1,
//!         /// UPDATE.
//!         UPDATE = 2,
//!     }
//! }
//!
//! assert_eq!(MessageType::from(2), MessageType::UPDATE);
//! assert_eq!(MessageType::UPDATE.name(), Some("UPDATE"));
//! assert_eq!(format!("{:?}", MessageType::OPEN), "OPEN");
//! // An unknown value keeps its number and says which registry it is from.
//! assert_eq!(MessageType(9).name(), None);
//! assert_eq!(format!("{}", MessageType(9)), "MessageType(9)");
//! assert_eq!(u8::from(MessageType(9)), 9);
//! ```

#![no_std]

/// Declares a registry newtype: named constants, `name()`, `Debug` that
/// prints the IANA name (or `Type(n)`), and conversions from and to the
/// raw integer.
///
/// The type is `pub struct Name(pub repr)` and derives `Clone`, `Copy`,
/// `PartialEq`, `Eq`, `Hash`, `PartialOrd`, `Ord` and `Default`;
/// `Display` prints what `Debug` does.
#[macro_export]
macro_rules! registry {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$cmeta:meta])* $cname:ident = $val:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(
            ::core::clone::Clone,
            ::core::marker::Copy,
            ::core::cmp::PartialEq,
            ::core::cmp::Eq,
            ::core::hash::Hash,
            ::core::cmp::PartialOrd,
            ::core::cmp::Ord,
            ::core::default::Default,
        )]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$cmeta])* pub const $cname: $name = $name($val); )*

            /// The IANA name of this value, if it is one this code knows.
            pub fn name(self) -> ::core::option::Option<&'static str> {
                match self.0 {
                    $( $val => ::core::option::Option::Some(::core::stringify!($cname)), )*
                    _ => ::core::option::Option::None,
                }
            }
        }

        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match self.name() {
                    ::core::option::Option::Some(n) => f.write_str(n),
                    ::core::option::Option::None => {
                        ::core::write!(f, "{}({})", ::core::stringify!($name), self.0)
                    }
                }
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Debug::fmt(self, f)
            }
        }

        impl ::core::convert::From<$repr> for $name {
            fn from(v: $repr) -> Self {
                $name(v)
            }
        }

        impl ::core::convert::From<$name> for $repr {
            fn from(v: $name) -> Self {
                v.0
            }
        }
    };
}
