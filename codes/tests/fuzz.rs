//! A bounded, deterministic fuzz run of the classifier and the track parser:
//! 100,000 inputs per run, half random bytes and half mutations of valid
//! inputs (the interesting ones: one byte off a valid token, notice, Data
//! Matrix, fiscal code or track). Nothing may panic, and no error message may
//! carry an unmasked fiscal code. Seeded, so a failure reproduces; set
//! `POS_FUZZ_SEED` to explore other seeds and `POS_FUZZ_CASES` for longer runs.

use pos_codes::{classify, fiscal_code_from_track, CodeError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CF: &str = "RSSMRA85T10A562S";

fn seeds() -> Vec<String> {
    let key = pos_codes::ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let token = pos_codes::AppToken::sign(
        &pos_codes::TokenClaims {
            creditor: pos_codes::CreditorFiscalCode::parse("00514490010").unwrap(),
            service: "mensa".into(),
            consumer_ref: "c_8f3a9b21".into(),
            issued_at: 1_763_800_000,
        },
        "k1",
        &key,
    );
    let mut dm = String::from("codfase=NBPA;18300715700000000032120000163020931000000000013896");
    dm.push_str("1P100085240950BSCMTT83A12L719R");
    dm.push_str(&format!("{:<39}", "ROSSI MARIO"));
    dm.push_str(&format!("{:<110}", "MENSA"));
    dm.push_str(&" ".repeat(12));
    dm.push('A');
    vec![
        token,
        "PAGOPA|002|301000000000012373|00514490010|2550".into(),
        dm,
        CF.into(),
        format!("%B{CF}ROSSI  MARIO^^?"),
        ";8038000000123456789?".into(),
        "4001 0000 0018 6".into(),
        "4001000000186".into(),
    ]
}

fn mutate(rng: &mut StdRng, s: &str) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    for _ in 0..rng.gen_range(1..4) {
        match rng.gen_range(0..5) {
            0 if !b.is_empty() => {
                let i = rng.gen_range(0..b.len());
                b[i] = rng.gen();
            }
            1 if !b.is_empty() => {
                let i = rng.gen_range(0..b.len());
                b.remove(i);
            }
            2 => {
                let i = rng.gen_range(0..=b.len());
                b.insert(i, rng.gen());
            }
            3 if !b.is_empty() => {
                let i = rng.gen_range(0..b.len());
                b.truncate(i);
            }
            _ => b.extend_from_slice(b"\r\n"),
        }
    }
    b
}

fn check_message(e: &CodeError, input: &str) {
    let msg = e.to_string();
    assert!(
        !msg.contains(CF),
        "unmasked fiscal code in {msg:?} for {input:?}"
    );
}

#[test]
fn classifier_and_track_parser_survive_100k_inputs() {
    let seed: u64 = std::env::var("POS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261123);
    let cases: usize = std::env::var("POS_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let mut rng = StdRng::seed_from_u64(seed);
    let seeds = seeds();
    let (mut accepted, mut refused) = (0usize, 0usize);
    for i in 0..cases {
        let bytes = if i % 2 == 0 {
            let len = rng.gen_range(0..300);
            (0..len).map(|_| rng.gen()).collect::<Vec<u8>>()
        } else {
            let s = &seeds[rng.gen_range(0..seeds.len())];
            mutate(&mut rng, s)
        };
        let text = String::from_utf8_lossy(&bytes);
        match classify(&text) {
            Ok(_) => accepted += 1,
            Err(e) => {
                refused += 1;
                check_message(&e, &text);
            }
        }
        if let Err(e) = fiscal_code_from_track(&text) {
            check_message(&e, &text);
        }
    }
    // The valid seeds themselves classify, so the run exercised both sides.
    for s in &seeds[..4] {
        assert!(classify(s).is_ok(), "seed {s:?} must be valid");
    }
    assert_eq!(accepted + refused, cases);
    assert!(refused > cases / 2, "most random inputs are refused");
}
