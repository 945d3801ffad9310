//! The worked example of FORMAT.md §15 is what the code produces: the document's hex dump,
//! genesis value and record hash are checked against the encoder and the chain functions.

use housekeeper_journal::cbor::diagnostic;
use housekeeper_journal::chain::{genesis, record_hash, JournalId};
use housekeeper_journal::codec::encode_record;
use housekeeper_journal::{Digest, Record};

fn hex_lines(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .map(|c| {
            c.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn example() -> Record {
    let mut d = [0u8; 32];
    for (i, b) in d.iter_mut().enumerate() {
        *b = u8::try_from(i).unwrap();
    }
    Record::PayloadExpired {
        digest: Digest(d),
        run_id: "20240131T235958Z-a1b2c3".into(),
        reason: "undo_window".into(),
    }
}

#[test]
fn format_md_worked_example_matches_the_code() {
    let format =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/FORMAT.md")).unwrap();
    let body = encode_record(&example());
    let id = JournalId([
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff,
    ]);
    let g = genesis(&id);
    let h = record_hash(&g, 1, &body);
    let dump = hex_lines(&body);
    println!(
        "{} bytes\n{dump}\n{g}\n{h}\n{}",
        body.len(),
        diagnostic(&body).unwrap()
    );
    assert!(format.contains(&format!("canonical encoding ({} bytes)", body.len())));
    assert!(format.contains(&dump), "hex dump not in FORMAT.md");
    assert!(format.contains(&g.to_hex()), "genesis not in FORMAT.md");
    assert!(format.contains(&h.to_hex()), "record hash not in FORMAT.md");
}
