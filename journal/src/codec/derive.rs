//! The macros that give a record, field map or enum its `Canonical` implementation, both
//! directions from one list of field names, so that the encoder and the decoder can never
//! disagree on a key, its order or its type.
//!
//! Owns the shapes of FORMAT.md §8: a field map (`canonical_map!`, keys are the field names,
//! listed in canonical order, which a compile-time assertion checks), a fixed array
//! (`canonical_array!`), a name (`canonical_names!`), a name or a one-key map of fields
//! (`canonical_variants!`) and the record itself (`canonical_records!`). It must never decide
//! a type's layout: the field lists in `shapes` do; a field's own encoding comes from its type.

use std::io::Read;

use crate::cbor::{DecodeError, Decoder, Head, MAJOR_MAP, MAJOR_TEXT};

/// Whether `keys` are in canonical CBOR order (FORMAT.md §6): shorter first, then bytewise —
/// the order of their encodings, for text keys shorter than 256 bytes.
pub(crate) const fn in_canonical_order(keys: &[&str]) -> bool {
    let mut i = 1;
    while i < keys.len() {
        let (a, b) = (keys[i - 1].as_bytes(), keys[i].as_bytes());
        if a.len() >= 256 || b.len() >= 256 || a.len() > b.len() {
            return false;
        }
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() || a[j] > b[j] {
                return false;
            }
        }
        i += 1;
    }
    true
}

/// Reads a variant name, or the single key of a one-key map; returns the name and whether it
/// was a map (whose value the caller reads next).
pub(crate) fn variant_name<R: Read>(
    d: &mut Decoder<R>,
    h: Head,
    what: &str,
) -> Result<(String, bool), DecodeError> {
    match h.major {
        MAJOR_TEXT => Ok((d.text_from(h)?, false)),
        MAJOR_MAP if h.arg == 1 => Ok((d.text()?, true)),
        _ => Err(d.error(format!("expected {what} (a name or a one-key map)"))),
    }
}

pub(crate) fn unit_only(
    d: &Decoder<impl Read>,
    name: &str,
    is_map: bool,
) -> Result<(), DecodeError> {
    if is_map {
        Err(d.error(format!("{name:?} takes no fields")))
    } else {
        Ok(())
    }
}

pub(crate) fn with_fields(
    d: &Decoder<impl Read>,
    name: &str,
    is_map: bool,
) -> Result<(), DecodeError> {
    if is_map {
        Ok(())
    } else {
        Err(d.error(format!("{name:?} needs its fields")))
    }
}

/// Writes the keys and values of a field map whose head is written; each `$f` is a reference.
macro_rules! encode_fields {
    ($e:ident, $($f:ident),+) => {
        $(
            $e.key(stringify!($f));
            $crate::codec::Canonical::encode($f, $e);
        )+
    };
}

/// Reads the keys and values of a field map whose head is read, binding one local per field.
macro_rules! decode_fields {
    ($d:ident, $($f:ident),+) => {
        $(
            $d.key(stringify!($f))?;
            let $f = $crate::codec::Canonical::decode($d)?;
        )+
    };
}

/// The keys of a field map, checked for canonical order when the crate is compiled.
macro_rules! field_keys {
    ($($f:ident),+) => {{
        const KEYS: &[&str] = &[$(stringify!($f)),+];
        const _: () = assert!(
            $crate::codec::derive::in_canonical_order(KEYS),
            "field map keys out of canonical order"
        );
        KEYS
    }};
}

/// A struct as a map of its fields, keyed by field name; `$f` in canonical key order. A field
/// marked `since N` was added in format version N (FORMAT.md §14): it is always written, and
/// read only from bytes of version N or later (earlier bytes leave it at its default).
/// `count_error` replaces the generic message for a map with the wrong number of keys.
macro_rules! canonical_map {
    ($T:ident { $($f:ident $(since $v:literal)?),+ $(,)? } $(count_error = $msg:literal)?) => {
        impl $crate::codec::derive::FieldMap for $T {
            const KEYS: &'static [&'static str] = field_keys!($($f),+);
            const SINCE: &'static [u16] = &[$(canonical_map!(@since $($v)?)),+];
        }

        impl $crate::codec::Canonical for $T {
            fn encode(&self, e: &mut $crate::cbor::Encoder) {
                let $T { $($f),+ } = self;
                e.map(<$T as $crate::codec::derive::FieldMap>::KEYS.len());
                encode_fields!(e, $($f),+);
            }

            fn decode_from<R: std::io::Read>(
                d: &mut $crate::cbor::Decoder<R>,
                h: $crate::cbor::Head,
            ) -> Result<Self, $crate::cbor::DecodeError> {
                canonical_map!(@count d, h, $T $(, $msg)?);
                $( canonical_map!(@field d, $f $(, $v)?); )+
                Ok($T { $($f),+ })
            }
        }
    };
    (@since) => { 1 };
    (@since $v:literal) => { $v };
    (@field $d:ident, $f:ident) => {
        $d.key(stringify!($f))?;
        let $f = $crate::codec::Canonical::decode($d)?;
    };
    (@field $d:ident, $f:ident, $v:literal) => {
        let $f = if $d.format_version() >= $v {
            $d.key(stringify!($f))?;
            $crate::codec::Canonical::decode($d)?
        } else {
            Default::default()
        };
    };
    (@count $d:ident, $h:ident, $T:ident) => {
        $crate::codec::derive::fields_of_version(
            $d,
            $h,
            <$T as $crate::codec::derive::FieldMap>::KEYS,
            <$T as $crate::codec::derive::FieldMap>::SINCE,
        )?;
    };
    (@count $d:ident, $h:ident, $T:ident, $msg:literal) => {
        if $d.map_from($h)? != <$T as $crate::codec::derive::FieldMap>::KEYS.len() as u64 {
            return Err($d.error($msg));
        }
    };
}

/// Reads the head of a field map and checks it has the keys the decoder's format version
/// gives it: those of `keys` whose `since` is not newer.
pub(crate) fn fields_of_version<R: Read>(
    d: &Decoder<R>,
    h: Head,
    keys: &[&str],
    since: &[u16],
) -> Result<(), DecodeError> {
    let version = d.format_version();
    let n = d.map_from(h)?;
    let of_version = || {
        keys.iter()
            .zip(since)
            .filter(move |(_, s)| **s <= version)
            .map(|(k, _)| *k)
    };
    let want = of_version().count();
    if n == want as u64 {
        Ok(())
    } else {
        Err(d.error(format!(
            "expected a map of {want} keys ({}) in format version {version}, found {n}",
            of_version().collect::<Vec<_>>().join(", ")
        )))
    }
}

/// The key list of a struct encoded as a field map.
pub(crate) trait FieldMap {
    const KEYS: &'static [&'static str];
    /// The format version each key of `KEYS` was added in.
    const SINCE: &'static [u16];
}

/// A struct as an array of its fields, in the order listed.
macro_rules! canonical_array {
    ($T:ident [ $($f:ident),+ $(,)? ]) => {
        impl $crate::codec::Canonical for $T {
            fn encode(&self, e: &mut $crate::cbor::Encoder) {
                let $T { $($f),+ } = self;
                e.array([$(stringify!($f)),+].len());
                $( $crate::codec::Canonical::encode($f, e); )+
            }

            fn decode_from<R: std::io::Read>(
                d: &mut $crate::cbor::Decoder<R>,
                h: $crate::cbor::Head,
            ) -> Result<Self, $crate::cbor::DecodeError> {
                d.array_exact_from(h, [$(stringify!($f)),+].len() as u64)?;
                $( let $f = $crate::codec::Canonical::decode(d)?; )+
                Ok($T { $($f),+ })
            }
        }
    };
}

/// An enum of unit variants, each written as its name; `$what` names the enum in errors.
macro_rules! canonical_names {
    ($T:ident, $what:literal { $($V:ident = $name:literal),+ $(,)? }) => {
        impl $crate::codec::Canonical for $T {
            fn encode(&self, e: &mut $crate::cbor::Encoder) {
                e.text(match self { $($T::$V => $name),+ });
            }

            fn decode_from<R: std::io::Read>(
                d: &mut $crate::cbor::Decoder<R>,
                h: $crate::cbor::Head,
            ) -> Result<Self, $crate::cbor::DecodeError> {
                let s = d.text_from(h)?;
                match s.as_str() {
                    $($name => Ok($T::$V),)+
                    _ => Err(d.error(format!(concat!("unknown ", $what, " {:?}"), s))),
                }
            }
        }
    };
}

/// An enum whose variants are a name (unit variants) or a one-key map from the name to the
/// map of the variant's fields (struct variants); `$what` names the enum in errors.
macro_rules! canonical_variants {
    ($T:ident, $what:literal { $($V:ident = $name:literal $({ $($f:ident),+ $(,)? })?),+ $(,)? }) => {
        impl $crate::codec::Canonical for $T {
            fn encode(&self, e: &mut $crate::cbor::Encoder) {
                match self {
                    $($T::$V $({ $($f),+ })? => {
                        canonical_variants!(@encode e, $name $(, $($f),+)?);
                    })+
                }
            }

            fn decode_from<R: std::io::Read>(
                d: &mut $crate::cbor::Decoder<R>,
                h: $crate::cbor::Head,
            ) -> Result<Self, $crate::cbor::DecodeError> {
                let (name, is_map) =
                    $crate::codec::derive::variant_name(d, h, concat!("a ", $what))?;
                Ok(match name.as_str() {
                    $($name => canonical_variants!(@decode d, name, is_map, $T::$V $(, $($f),+)?),)+
                    _ => return Err(d.error(format!(concat!("unknown ", $what, " {:?}"), name))),
                })
            }
        }
    };
    (@encode $e:ident, $name:literal) => {
        $e.text($name);
    };
    (@encode $e:ident, $name:literal, $($f:ident),+) => {
        $e.map(1);
        $e.key($name);
        $e.map(field_keys!($($f),+).len());
        encode_fields!($e, $($f),+);
    };
    (@decode $d:ident, $name:ident, $is_map:ident, $T:ident :: $V:ident) => {{
        $crate::codec::derive::unit_only($d, &$name, $is_map)?;
        $T::$V
    }};
    (@decode $d:ident, $name:ident, $is_map:ident, $T:ident :: $V:ident, $($f:ident),+) => {{
        $crate::codec::derive::with_fields($d, &$name, $is_map)?;
        $d.map_exact(field_keys!($($f),+))?;
        decode_fields!($d, $($f),+);
        $T::$V { $($f),+ }
    }};
}

/// The record: a map of one key, the kind's name, to the map of its fields (FORMAT.md §8.2).
/// Also generates `RECORD_KEYS`, `record_kind_name` and the key lookup by kind name.
macro_rules! canonical_records {
    ($T:ident { $($V:ident = $name:literal { $($f:ident),+ $(,)? }),+ $(,)? }) => {
        /// The canonical key order of each record kind's field map (FORMAT.md §8.2).
        pub const RECORD_KEYS: [(&str, &[&str]); [$($name),+].len()] =
            [$(($name, field_keys!($($f),+))),+];

        /// The record kind's name as it appears in the encoding.
        #[must_use]
        pub fn record_kind_name(r: &$T) -> &'static str {
            match r {
                $($T::$V { .. } => $name,)+
            }
        }

        /// The keys of the record kind named `kind`; empty for an unknown kind.
        fn keys_of(kind: &str) -> &'static [&'static str] {
            RECORD_KEYS
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or(&[], |(_, keys)| keys)
        }

        impl $crate::codec::Canonical for $T {
            fn encode(&self, e: &mut $crate::cbor::Encoder) {
                let kind = record_kind_name(self);
                e.map(1);
                e.key(kind);
                e.map(keys_of(kind).len());
                match self {
                    $($T::$V { $($f),+ } => {
                        encode_fields!(e, $($f),+);
                    })+
                }
            }

            fn decode_from<R: std::io::Read>(
                d: &mut $crate::cbor::Decoder<R>,
                h: $crate::cbor::Head,
            ) -> Result<Self, $crate::cbor::DecodeError> {
                if d.map_from(h)? != 1 {
                    return Err(d.error("a record is a map of exactly 1 key (its kind)"));
                }
                let kind = d.text()?;
                let keys = keys_of(&kind);
                if keys.is_empty() {
                    return Err(d.error(format!("unknown record kind {kind:?}")));
                }
                d.map_exact(keys)?;
                Ok(match kind.as_str() {
                    $($name => {
                        decode_fields!(d, $($f),+);
                        $T::$V { $($f),+ }
                    })+
                    _ => return Err(d.error(format!("unknown record kind {kind:?}"))),
                })
            }
        }
    };
}
