//! Word lists for generated projects: run names, owners, tags, optimizers, log lines.

use rand::Rng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;

/// First halves of Neptune-style run names (`cunning-blobfish`).
pub(crate) const ADJECTIVES: &[&str] = &[
    "cunning",
    "brave",
    "calm",
    "eager",
    "fancy",
    "gentle",
    "happy",
    "jolly",
    "kind",
    "lively",
    "mighty",
    "nimble",
    "proud",
    "quick",
    "quiet",
    "rapid",
    "shy",
    "silly",
    "sleepy",
    "swift",
    "tidy",
    "witty",
    "zealous",
    "ancient",
    "bold",
    "bright",
    "clever",
    "curious",
    "daring",
    "fierce",
    "fluffy",
    "golden",
    "hidden",
    "icy",
    "lucky",
    "merry",
    "noisy",
    "odd",
    "plucky",
    "rusty",
    "sunny",
    "tiny",
    "vivid",
    "wise",
    "young",
    "zesty",
    "frosty",
    "misty",
    "stormy",
    "wandering",
];

/// Second halves of run names.
pub(crate) const ANIMALS: &[&str] = &[
    "blobfish",
    "axolotl",
    "badger",
    "capybara",
    "dingo",
    "echidna",
    "ferret",
    "gecko",
    "heron",
    "ibis",
    "jackal",
    "kiwi",
    "lemur",
    "marmot",
    "narwhal",
    "ocelot",
    "pangolin",
    "quokka",
    "raccoon",
    "salamander",
    "tapir",
    "urchin",
    "vulture",
    "walrus",
    "yak",
    "zebra",
    "alpaca",
    "beaver",
    "cheetah",
    "dolphin",
    "falcon",
    "gazelle",
    "hamster",
    "iguana",
    "koala",
    "llama",
    "mongoose",
    "newt",
    "otter",
    "penguin",
    "puffin",
    "seal",
    "sloth",
    "toucan",
    "wombat",
    "platypus",
    "mantis",
    "orca",
    "lynx",
    "bison",
];

/// Human owners, most active first.
pub(crate) const USERS: &[&str] = &[
    "jackie", "alice", "karolina", "piotr", "mei", "raj", "sofia", "tomasz", "yuki", "omar", "lena", "hugo",
    "ines", "kofi", "nadia", "bruno",
];

/// Service accounts (`name@workspace`), which own scheduled and CI runs.
pub(crate) const SERVICE_ACCOUNTS: &[&str] = &[
    "ci-bot@ml-team",
    "scheduler@ml-team",
    "sweeper@research",
    "nightly@platform",
];

/// Tags, most used first.
pub(crate) const TAGS: &[&str] = &[
    "baseline",
    "exploration",
    "pretrained",
    "finetune",
    "sweep",
    "ablation",
    "prod-candidate",
    "debug",
    "v2",
    "augmented",
    "resnet50",
    "bert-base",
    "vit",
    "lora",
    "fp16",
    "bf16",
    "distributed",
    "nightly",
    "regression",
    "long-run",
    "small-data",
    "full-data",
    "cosine",
    "warmup",
    "label-smoothing",
    "mixup",
    "cutmix",
    "distillation",
    "quantized",
    "pruned",
    "tpu",
    "multi-gpu",
    "cpu-only",
    "reproduce",
    "paper",
    "hpo",
    "seed-check",
    "smoke-test",
    "legacy",
    "best",
];

/// Group tags, most used first.
pub(crate) const GROUP_TAGS: &[&str] = &[
    "team-vision",
    "team-nlp",
    "q1-goals",
    "team-recsys",
    "q2-goals",
    "benchmarks",
    "infra",
    "research",
];

/// Optimizer names and relative frequencies.
pub(crate) const OPTIMIZERS: &[(&str, f64)] = &[
    ("adamw", 0.45),
    ("adam", 0.25),
    ("sgd", 0.15),
    ("lion", 0.05),
    ("rmsprop", 0.05),
    ("adafactor", 0.05),
];

/// Run descriptions and relative frequencies (most runs have none: the empty string).
pub(crate) const DESCRIPTIONS: &[(&str, f64)] = &[
    ("", 0.6),
    ("baseline", 0.08),
    ("test run on new data", 0.06),
    ("sweep over learning rate", 0.06),
    ("rerun with fixed seed", 0.05),
    ("ablation: no augmentation", 0.05),
    ("longer schedule, more warmup", 0.05),
    ("debugging the data loader", 0.05),
];

/// Accelerators for the `env/gpu` attribute.
pub(crate) const GPUS: &[&str] = &["A100-80GB", "H100", "V100", "T4", "L4", "A10G", "cpu"];

/// Error lines that end the logs of failed runs.
pub(crate) const ERRORS: &[&str] = &[
    "ERROR: CUDA error: out of memory (tried to allocate 2.00 GiB)",
    "ERROR: NCCL error: unhandled system error",
    "ERROR: Traceback (most recent call last): KeyError: 'label'",
    "ERROR: killed by the scheduler (time limit)",
    "ERROR: data loader worker exited with error code 137",
];

/// Zipf-like weights `1 / (rank + 1)^s` for `n` ranks.
pub(crate) fn zipf_weights(n: usize, s: f64) -> Vec<f64> {
    (0..n).map(|r| 1.0 / ((r + 1) as f64).powf(s)).collect()
}

/// `n` words: the first `n` of `list`, then `{prefix}-{k}` for the rest.
pub(crate) fn words(list: &[&str], n: usize, prefix: &str) -> Vec<String> {
    (0..n)
        .map(|i| match list.get(i) {
            Some(w) => (*w).to_string(),
            None => format!("{prefix}-{}", i + 1),
        })
        .collect()
}

/// A vocabulary with Zipf-like frequencies.
#[derive(Debug, Clone)]
pub(crate) struct Vocab {
    pub(crate) words: Vec<String>,
    index: Option<WeightedIndex<f64>>,
}

impl Vocab {
    pub(crate) fn zipf(words: Vec<String>, s: f64) -> Self {
        let index = WeightedIndex::new(zipf_weights(words.len(), s)).ok();
        Vocab { words, index }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.index.is_none()
    }

    /// The index of a random word (0 when empty).
    pub(crate) fn sample_index<R: Rng>(&self, rng: &mut R) -> usize {
        self.index.as_ref().map_or(0, |ix| ix.sample(rng))
    }

    pub(crate) fn sample<R: Rng>(&self, rng: &mut R) -> &str {
        &self.words[self.sample_index(rng)]
    }

    /// Up to `k` distinct words (fewer when duplicates are drawn), in draw order.
    pub(crate) fn sample_set<R: Rng>(&self, rng: &mut R, k: usize) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::with_capacity(k);
        if self.is_empty() {
            return out;
        }
        for _ in 0..k {
            let w = self.sample(rng);
            if !out.contains(&w) {
                out.push(w);
            }
        }
        out
    }
}

/// Picks from `(item, weight)` pairs.
pub(crate) fn pick_weighted<'a, R: Rng>(rng: &mut R, items: &[(&'a str, f64)]) -> &'a str {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut u = rng.random::<f64>() * total;
    for (item, w) in items {
        if u < *w {
            return item;
        }
        u -= w;
    }
    items.last().map_or("", |(item, _)| item)
}

/// A hex string of `len` digits.
pub(crate) fn hex<R: Rng>(rng: &mut R, len: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    (0..len)
        .map(|_| DIGITS[rng.random_range(0..16)] as char)
        .collect()
}

/// A Neptune-style run name, `adjective-animal`.
pub(crate) fn run_name<R: Rng>(rng: &mut R) -> String {
    let a = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
    let b = ANIMALS[rng.random_range(0..ANIMALS.len())];
    format!("{a}-{b}")
}
