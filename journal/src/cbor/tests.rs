//! The canonical CBOR profile's encoder and strict decoder, byte by byte.

use super::*;

fn enc(f: impl FnOnce(&mut Encoder)) -> Vec<u8> {
    let mut e = Encoder::new();
    f(&mut e);
    e.buf
}

#[test]
fn heads_take_the_shortest_form() {
    assert_eq!(enc(|e| e.uint(0)), [0x00]);
    assert_eq!(enc(|e| e.uint(23)), [0x17]);
    assert_eq!(enc(|e| e.uint(24)), [0x18, 24]);
    assert_eq!(enc(|e| e.uint(256)), [0x19, 1, 0]);
    assert_eq!(enc(|e| e.uint(65536)), [0x1a, 0, 1, 0, 0]);
    assert_eq!(enc(|e| e.uint(1 << 32)), [0x1b, 0, 0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(enc(|e| e.int(-1)), [0x20]);
    assert_eq!(enc(|e| e.int(-25)), [0x38, 24]);
    assert_eq!(
        enc(|e| e.int(i64::MIN)),
        [0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
    );
}

#[test]
fn longer_heads_than_needed_are_rejected() {
    for bytes in [&[0x18, 5][..], &[0x19, 0, 0xff], &[0x1a, 0, 0, 0xff, 0xff]] {
        let err = Decoder::new(bytes).uint().unwrap_err();
        assert!(err.message.contains("shortest"), "{err}");
    }
    let err = Decoder::new(&[0x1b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff][..])
        .uint()
        .unwrap_err();
    assert!(err.message.contains("shortest"));
}

#[test]
fn indefinite_lengths_and_other_simple_values_are_rejected() {
    assert!(Decoder::new(&[0x9f][..]).array().is_err());
    assert!(Decoder::new(&[0x7f][..]).text().is_err());
    assert!(Decoder::new(&[0xf7][..]).skip_item().is_err()); // undefined
    assert!(Decoder::new(&[0xf9, 0x3c, 0x00][..]).skip_item().is_err()); // half float
    assert!(Decoder::new(&[0xc1, 0x00][..]).skip_item().is_err()); // tag 1
}

#[test]
fn i128_uses_integers_when_they_fit_and_bignums_otherwise() {
    for v in [
        0i128,
        -1,
        i128::from(u64::MAX),
        -1 - i128::from(u64::MAX),
        i128::from(u64::MAX) + 1,
        -2 - i128::from(u64::MAX),
        i128::MAX,
        i128::MIN,
    ] {
        let b = enc(|e| e.i128(v));
        assert_eq!(Decoder::new(b.as_slice()).i128().unwrap(), v, "{v}");
    }
    assert_eq!(enc(|e| e.i128(i128::from(u64::MAX) + 1))[0], 0xc2);
    // A bignum small enough for an integer is not canonical.
    assert!(Decoder::new(&[0xc2, 0x41, 0x05][..]).i128().is_err());
}

#[test]
fn floats_are_always_eight_bytes_and_bit_exact() {
    let nan = f64::from_bits(0x7ff8_0000_0000_0001);
    let b = enc(|e| e.f64(nan));
    assert_eq!(b.len(), 9);
    let mut d = Decoder::new(b.as_slice());
    let h = d.head().unwrap();
    assert_eq!(d.f64_from(h).unwrap().to_bits(), nan.to_bits());
    assert_eq!(diagnostic(&enc(|e| e.f64(1.5))).unwrap(), "1.5");
    // Bit patterns equal to the simple values' codes stay floats.
    for bits in [20u64, 21, 22] {
        let b = enc(|e| e.f64(f64::from_bits(bits)));
        let mut d = Decoder::new(b.as_slice());
        let h = d.head().unwrap();
        assert_eq!(d.f64_from(h).unwrap().to_bits(), bits);
        assert!(Decoder::new(b.as_slice()).bool().is_err());
    }
}

#[test]
fn strings_longer_than_the_input_fail_without_allocating_their_claimed_size() {
    // Claims 4 GiB - 1 bytes, provides 3.
    let bytes = [0x5a, 0xff, 0xff, 0xff, 0xff, 1, 2, 3];
    let err = Decoder::new(&bytes[..]).bytes().unwrap_err();
    assert!(err.message.contains("end of data"), "{err}");
}

#[test]
fn diagnostic_checks_map_key_order() {
    let ok = enc(|e| {
        e.map(2);
        e.key("b");
        e.uint(1);
        e.key("aa");
        e.uint(2);
    });
    assert_eq!(diagnostic(&ok).unwrap(), r#"{"b": 1, "aa": 2}"#);
    let bad = enc(|e| {
        e.map(2);
        e.key("aa");
        e.uint(1);
        e.key("b");
        e.uint(2);
    });
    assert!(diagnostic(&bad).is_err());
}
