//! A short fuzz run of every target in the test suite: the seeds in `fuzz/seeds/<target>/`
//! and bounded random mutations of them (a deterministic generator, so a failure repeats).
//! `GATEHOUSE_FUZZ_ITERATIONS` runs more; `scripts/fuzz.sh` runs libFuzzer for long runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

use std::path::PathBuf;

use gatehouse_fuzz::TARGETS;

/// Pieces that matter to the parsers, spliced in by the mutator.
const DICTIONARY: &[&[u8]] = &[
    b"${",
    b"#{",
    b"&{",
    b"}",
    b"{",
    b"[",
    b"]",
    b"(",
    b")",
    b"\"",
    b"'",
    b"\\u00",
    b"\\",
    b".",
    b",",
    b":",
    b";",
    b"=",
    b"==",
    b"|",
    b"?",
    b"and",
    b"or",
    b"not",
    b"empty",
    b"request.",
    b"form['a']",
    b"entity.json",
    b"find(",
    b"split(",
    b"\n",
    b"\t",
    b"Basic ",
    b"Bearer ",
    b"eyJ",
    b"..",
    b"null",
    b"true",
    b"-1e999",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    for _ in 0..=rng.below(8) {
        let at = rng.below(input.len() + 1);
        match rng.below(7) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = rng.next() as u8;
            }
            2 => input.insert(at, rng.next() as u8),
            3 if !input.is_empty() => {
                let end = (at + rng.below(16)).min(input.len());
                input.drain(at.min(end)..end);
            }
            4 => {
                let word = DICTIONARY[rng.below(DICTIONARY.len())];
                input.splice(at..at, word.iter().copied());
            }
            5 if !input.is_empty() => {
                let start = rng.below(input.len());
                let end = (start + rng.below(32)).min(input.len());
                let chunk = input[start..end].to_vec();
                input.splice(at..at, chunk);
            }
            _ => input.truncate(at),
        }
    }
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds").join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    seeds.push(Vec::new());
    seeds
}

#[test]
fn every_target_survives_its_seeds_and_random_mutations() {
    let iterations: usize =
        std::env::var("GATEHOUSE_FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    for (name, target) in TARGETS {
        let seeds = seeds(name);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
        let started = std::time::Instant::now();
        for seed in &seeds {
            target(seed);
        }
        for _ in 0..iterations {
            let mut input = seeds[rng.below(seeds.len())].clone();
            mutate(&mut rng, &mut input);
            target(&input);
        }
        eprintln!("{name}: {} seeds, {iterations} mutations in {:?}", seeds.len(), started.elapsed());
    }
}
