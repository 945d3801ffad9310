//! Row keys compared by value: the one type for comparing, storing and matching the keys of
//! rows (which rows a chunk found, which an undo restored, which a saved plan may touch).
//! Never compare keys by their display text: two binary keys of one length display alike, and
//! a lossy conversion merges distinct byte strings.

use housekeeper_journal::Value;

/// A row's key as a value. Equal keys are the same row of a table; distinct keys never
/// collide:
/// - integers by number, signed or unsigned, and so are text, decimal and byte-string keys
///   written exactly as an integer is (`7`, not `07` or `+7`), as one column reads the same
///   key back in either form depending on the engine;
/// - other text, decimals and byte strings that are valid UTF-8 by their characters;
/// - byte strings that are not UTF-8 by their bytes;
/// - anything else (a date, a time, a float, a boolean) by its canonical form.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum RowKey {
    Int(i128),
    Text(String),
    Bytes(Vec<u8>),
    Other(String),
}

impl RowKey {
    #[must_use]
    pub fn of(value: &Value) -> RowKey {
        match value {
            Value::Int(v) => RowKey::Int(i128::from(*v)),
            Value::UInt(v) => RowKey::Int(i128::from(*v)),
            Value::Text(s) | Value::Decimal(s) | Value::Json(s) => text_key(s),
            Value::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => text_key(s),
                Err(_) => RowKey::Bytes(b.clone()),
            },
            other => RowKey::Other(other.to_string()),
        }
    }

    /// The key as an `i64`, when it is an integer that fits.
    #[must_use]
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            RowKey::Int(n) => i64::try_from(*n).ok(),
            _ => None,
        }
    }
}

/// For messages: integers as digits, text as is (escaped where printed), a byte string that
/// is not UTF-8 as `0x` and its bytes in hex.
impl std::fmt::Display for RowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowKey::Int(n) => write!(f, "{n}"),
            RowKey::Text(s) | RowKey::Other(s) => f.write_str(s),
            RowKey::Bytes(b) => {
                f.write_str("0x")?;
                b.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
            }
        }
    }
}

impl From<&Value> for RowKey {
    fn from(value: &Value) -> Self {
        RowKey::of(value)
    }
}

fn text_key(s: &str) -> RowKey {
    match s.parse::<i128>() {
        Ok(n) if n.to_string() == s => RowKey::Int(n),
        _ => RowKey::Text(s.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_keys_of_one_length_stay_distinct() {
        let a = Value::Bytes(vec![0xff, 0x00, 0x01]);
        let b = Value::Bytes(vec![0xfe, 0x00, 0x01]);
        assert_eq!(a.to_string(), b.to_string(), "they display alike");
        assert_ne!(RowKey::of(&a), RowKey::of(&b));
    }

    #[test]
    fn non_utf8_keys_are_not_merged_by_a_lossy_conversion() {
        let a = Value::Bytes(b"caf\xe9".to_vec());
        let b = Value::Bytes(b"caf\xe8".to_vec());
        assert_eq!(
            String::from_utf8_lossy(b"caf\xe9"),
            String::from_utf8_lossy(b"caf\xe8")
        );
        assert_ne!(RowKey::of(&a), RowKey::of(&b));
        assert_ne!(RowKey::of(&a), RowKey::of(&Value::from("caf\u{fffd}")));
    }

    #[test]
    fn one_key_read_in_another_form_is_the_same_key() {
        let seven = RowKey::of(&Value::Int(7));
        assert_eq!(RowKey::of(&Value::UInt(7)), seven);
        assert_eq!(RowKey::of(&Value::from("7")), seven);
        assert_eq!(RowKey::of(&Value::Bytes(b"7".to_vec())), seven);
        assert_eq!(RowKey::of(&Value::Decimal("7".into())), seven);
        assert_ne!(RowKey::of(&Value::from("07")), seven);
        assert_ne!(RowKey::of(&Value::from("+7")), seven);
        assert_eq!(
            RowKey::of(&Value::Bytes(b"abc".to_vec())),
            RowKey::of(&Value::from("abc"))
        );
        assert_eq!(seven.as_i64(), Some(7));
        assert_eq!(RowKey::of(&Value::UInt(u64::MAX)).as_i64(), None);
    }
}
