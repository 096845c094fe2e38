//! The parser never panics: proptest over arbitrary bytes and over token soup, plus a seeded
//! random-mutation run over the golden files (deterministic, so a failure reproduces).

use proptest::prelude::*;
use std::path::Path;
use xlcfg::{parse_domain, Config, Disk, Value, Vif};

/// Everything the crate offers on untrusted text, results ignored: only panics matter.
fn exercise(bytes: &[u8]) {
    let _ = parse_domain(bytes);
    if let Ok(cfg) = Config::parse_bytes(bytes) {
        let _ = cfg.to_string();
    }
    let text = String::from_utf8_lossy(bytes);
    let _ = Disk::parse(&text);
    let _ = Vif::parse(&text, &mut Vec::new());
}

/// Fragments that reach deep into the grammar when shuffled together.
const PIECES: &[&str] = &[
    "name",
    "kernel",
    "memory",
    "maxmem",
    "vcpus",
    "maxvcpus",
    "disk",
    "vif",
    "iomem",
    "irqs",
    "uuid",
    "type",
    "on_crash",
    "cmdline",
    "root",
    "extra",
    "dtdev",
    "vuart",
    " = ",
    "=",
    " += ",
    "+",
    "[",
    "]",
    ",",
    ";",
    "\n",
    "\r\n",
    " ",
    "\t",
    "#c\n",
    "\"",
    "'",
    "\\",
    "\\x4",
    "\\1",
    "0",
    "0x",
    "0x1f",
    "08",
    "512",
    "18446744073709551616",
    "\"/boot/Image\"",
    "'g'",
    "\"pvh\"",
    "\"hvm\"",
    "'phy:/dev/vg/x,xvda,w'",
    "',hdc:cdrom,r'",
    "'target=/a,b'",
    "'format=qcow2'",
    "'mac=00:16:3e:00:00:01,bridge=xenbr0'",
    "'ff0e0,1@40000'",
    "\"sbsa_uart\"",
    "é",
    "\0",
];

fn token_soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(PIECES), 0..60).prop_map(|v| v.concat())
}

/// A random `Value` tree.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<u64>().prop_map(Value::Int),
        any::<String>()
            .prop_map(|s| s.replace('\0', ""))
            .prop_map(Value::Str),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        proptest::collection::vec(inner, 0..6).prop_map(Value::List)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        exercise(&bytes);
    }

    #[test]
    fn token_soup_never_panics(src in token_soup()) {
        exercise(src.as_bytes());
    }

    #[test]
    fn display_round_trips(entries in proptest::collection::vec(("[a-z][a-z0-9_]{0,8}", value()), 0..8)) {
        let src: String = entries.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        let cfg = Config::parse(&src).unwrap_or_else(|e| panic!("{e}\n{src}"));
        let got: Vec<(String, Value)> =
            cfg.entries().iter().map(|e| (e.key.clone(), e.value.clone())).collect();
        prop_assert_eq!(got, entries);
    }
}

/// xorshift64*: a tiny deterministic generator, so the run is the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn seeded_mutations_of_golden_files_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cfg"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty());
    let interesting = b"[]=,;+#\"'\\\n:@x0 ";
    let mut rng = Rng(0x5eed_0fc0_ffee);
    for _ in 0..20_000 {
        let mut buf = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(buf.len() + 1);
            match rng.below(4) {
                0 if at < buf.len() => buf[at] = rng.next() as u8,
                1 if at < buf.len() => {
                    buf.remove(at);
                }
                2 => buf.insert(at, interesting[rng.below(interesting.len())]),
                _ => {
                    let from = rng.below(buf.len());
                    let len = rng.below(16).min(buf.len() - from.min(buf.len()));
                    let chunk = buf[from..from + len].to_vec();
                    buf.splice(at..at, chunk);
                }
            }
        }
        exercise(&buf);
    }
}
