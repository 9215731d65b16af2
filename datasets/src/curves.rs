//! Training dynamics of one generated run: the learning curves its float series follow and the
//! log lines its stdout series shows. Shared by the generator and the demo.

use std::fmt::Write as _;

use rand::Rng;
use rand_distr::StandardNormal;

use crate::build::{FloatSeriesBuilder, StringSeriesBuilder};
use crate::vocab;

/// The shape a float series follows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum CurveKind {
    /// Saturating accuracy, times a factor (1 for train accuracy, a bit less for validation).
    Accuracy(f64),
    /// Decaying training loss.
    Loss,
    /// Validation loss: decays, then rises a little when the run overfits.
    ValLoss,
    /// The learning rate: linear warmup, then cosine decay.
    LrSchedule,
    /// Gradient norm: decaying, noisy, never below a floor.
    GradNorm,
    /// Samples per second: flat with noise.
    Throughput,
}

impl CurveKind {
    /// True for series that blow up to inf then NaN when a run diverges.
    fn explodes(self) -> bool {
        matches!(self, CurveKind::Loss | CurveKind::ValLoss | CurveKind::GradNorm)
    }
}

/// A float series every run of a project may log.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SeriesDef {
    pub(crate) path: String,
    pub(crate) kind: CurveKind,
}

impl SeriesDef {
    pub(crate) fn new(path: &str, kind: CurveKind) -> Self {
        SeriesDef {
            path: path.to_string(),
            kind,
        }
    }
}

/// The default float series, in the order `float_series_per_run` takes them.
pub(crate) fn default_series(n: usize) -> Vec<SeriesDef> {
    const NAMED: &[(&str, CurveKind)] = &[
        ("metrics/accuracy", CurveKind::Accuracy(1.0)),
        ("metrics/loss", CurveKind::Loss),
        ("val/loss", CurveKind::ValLoss),
        ("train/lr", CurveKind::LrSchedule),
        ("val/accuracy", CurveKind::Accuracy(0.97)),
        ("train/grad_norm", CurveKind::GradNorm),
        ("perf/samples_per_sec", CurveKind::Throughput),
    ];
    const CYCLE: [CurveKind; 3] = [CurveKind::Accuracy(0.95), CurveKind::Loss, CurveKind::GradNorm];
    let mut defs: Vec<SeriesDef> = (0..n)
        .map(|i| match NAMED.get(i) {
            Some((path, kind)) => SeriesDef::new(path, *kind),
            None => SeriesDef::new(&format!("metrics/series_{}", i + 1), CYCLE[i % CYCLE.len()]),
        })
        .collect();
    // Rows are written grouped by object, then path, then step: keep paths sorted.
    defs.sort_by(|a, b| a.path.cmp(&b.path));
    defs
}

/// The learning-rate multiplier at each step of a `len`-step schedule: 5% linear warmup from
/// 10%, then cosine decay to 1%.
pub(crate) fn lr_schedule(len: usize) -> Vec<f64> {
    let warmup = (len / 20).max(1);
    (0..len)
        .map(|t| {
            if t < warmup {
                0.1 + 0.9 * t as f64 / warmup as f64
            } else {
                let p = (t - warmup) as f64 / (len - warmup).max(1) as f64;
                0.01 + 0.99 * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
            }
        })
        .collect()
}

/// How one run trains: what its curves converge to, how fast, and what goes wrong.
#[derive(Clone, Debug)]
pub(crate) struct RunCurves {
    /// Points per series actually logged (0: the run logged no series).
    pub(crate) len: usize,
    pub(crate) acc0: f64,
    pub(crate) acc_max: f64,
    /// Per-step decay factor of the curves' transient.
    pub(crate) q: f64,
    pub(crate) loss0: f64,
    pub(crate) loss_min: f64,
    pub(crate) acc_noise: f64,
    pub(crate) loss_noise: f64,
    pub(crate) overfit: f64,
    pub(crate) lr: f64,
    pub(crate) throughput: f64,
    /// One NaN point: (index of the series among the project's defs, step).
    pub(crate) nan_at: Option<(usize, usize)>,
    /// The step at which losses become inf (then NaN) and accuracy collapses.
    pub(crate) diverge_at: Option<usize>,
    /// Timestamp of step 0 and the time between steps, microseconds.
    pub(crate) first_us: i64,
    pub(crate) interval_us: i64,
}

impl RunCurves {
    /// Draws a run's dynamics. `planned` is the full series length, `lr` the run's learning
    /// rate (runs near 1e-3 do best); `len` and the failure modes are set by the caller.
    pub(crate) fn sample<R: Rng>(rng: &mut R, planned: usize, lr: f64, start_us: i64) -> Self {
        let quality = (-((lr.log10() + 3.0) / 0.9).powi(2) / 2.0).exp();
        let acc_max = (0.5 + 0.47 * (0.55 + 0.45 * quality) * rng.random_range(0.9..1.0)).min(0.995);
        let k = rng.random_range(3.0..7.0) / planned.max(1) as f64;
        let loss0 = rng.random_range(1.8..2.6);
        RunCurves {
            len: planned,
            acc0: rng.random_range(0.05..0.15),
            acc_max,
            q: (-k).exp(),
            loss0,
            loss_min: (1.0 - acc_max) * rng.random_range(0.8..1.5) + 0.02,
            acc_noise: rng.random_range(0.004..0.02),
            loss_noise: rng.random_range(0.02..0.06),
            overfit: rng.random_range(0.0..0.6),
            lr,
            throughput: rng.random_range(800.0..3000.0),
            nan_at: None,
            diverge_at: None,
            first_us: start_us + rng.random_range(10_000_000..120_000_000),
            interval_us: rng.random_range(2_000_000..120_000_000),
        }
    }

    /// Timestamp of the last logged step (or of the start when nothing was logged).
    pub(crate) fn last_us(&self) -> i64 {
        self.first_us + self.interval_us * self.len.saturating_sub(1) as i64
    }

    /// The noise-free accuracy and loss at step `t`, for log lines.
    pub(crate) fn smooth(&self, t: usize) -> (f64, f64) {
        let d = self.q.powi(t as i32);
        (
            self.acc_max - (self.acc_max - self.acc0) * d,
            self.loss_min + (self.loss0 - self.loss_min) * d,
        )
    }

    /// Appends every series of the run: `defs` in order, steps `0..len`. `schedule` is
    /// [`lr_schedule`] of the planned length. No allocation per point.
    pub(crate) fn emit<R: Rng>(
        &self,
        rng: &mut R,
        id: &str,
        defs: &[SeriesDef],
        schedule: &[f64],
        planned: usize,
        out: &mut FloatSeriesBuilder,
    ) {
        let diverge = self.diverge_at.unwrap_or(usize::MAX);
        let inv_planned = 1.0 / planned.max(1) as f64;
        for (s, def) in defs.iter().enumerate() {
            let path = def.path.as_str();
            let nan_step = match self.nan_at {
                Some((series, step)) if series == s => step,
                _ => usize::MAX,
            };
            let mut d = 1.0;
            let mut ts = self.first_us;
            for t in 0..self.len {
                let n: f64 = rng.sample(StandardNormal);
                let mut v = match def.kind {
                    CurveKind::Accuracy(f) => {
                        let a = if t >= diverge {
                            self.acc0
                        } else {
                            self.acc_max - (self.acc_max - self.acc0) * d
                        };
                        ((a + self.acc_noise * n) * f).clamp(0.0, 1.0)
                    }
                    CurveKind::Loss => {
                        (self.loss_min + (self.loss0 - self.loss_min) * d)
                            * (1.0 + self.loss_noise * n).max(0.05)
                    }
                    CurveKind::ValLoss => {
                        let late = (t as f64 * inv_planned - 0.6).max(0.0);
                        (self.loss_min * 1.1 + (self.loss0 - self.loss_min) * d + self.overfit * late * late)
                            * (1.0 + 0.5 * self.loss_noise * n).max(0.05)
                    }
                    CurveKind::LrSchedule => self.lr * schedule.get(t).copied().unwrap_or(0.01),
                    CurveKind::GradNorm => 0.2 + 4.0 * d + 0.15 * n.abs(),
                    CurveKind::Throughput => self.throughput * (1.0 + 0.03 * n),
                };
                if def.kind.explodes() && t >= diverge {
                    v = if t == diverge { f64::INFINITY } else { f64::NAN };
                }
                if t == nan_step {
                    v = f64::NAN;
                }
                out.push(id, path, t as f64, v, ts);
                d *= self.q;
                ts += self.interval_us;
            }
        }
    }
}

/// How a run ended, for its last log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    Done,
    EarlyStopped,
    Failed,
    Running,
}

/// Appends `lines` stdout lines for a run at `path`: epoch summaries, then a last line that
/// says how it ended (`done`, an `ERROR: ...` line, or another epoch line while running).
#[allow(clippy::too_many_arguments)]
pub(crate) fn emit_logs<R: Rng>(
    rng: &mut R,
    id: &str,
    path: &str,
    lines: usize,
    curves: &RunCurves,
    ending: Ending,
    buf: &mut String,
    out: &mut StringSeriesBuilder,
) {
    if lines == 0 {
        return;
    }
    let span_steps = curves.len.max(1);
    let end_us = curves.last_us() + 5_000_000;
    let step_us = (end_us - curves.first_us).max(lines as i64) / lines as i64;
    for i in 0..lines {
        buf.clear();
        let ts = curves.first_us + step_us * i as i64;
        let last = i + 1 == lines;
        if last && ending != Ending::Running {
            match ending {
                Ending::Failed => match curves.diverge_at {
                    Some(s) => {
                        let _ = write!(buf, "ERROR: loss is nan at step {s}, stopping");
                    }
                    None => buf.push_str(vocab::ERRORS[rng.random_range(0..vocab::ERRORS.len())]),
                },
                _ => buf.push_str("done"),
            }
        } else if i + 2 == lines && ending == Ending::EarlyStopped {
            buf.push_str("early stopping: no improvement for 10 epochs");
        } else {
            let t = (i * span_steps / lines).min(span_steps - 1);
            let (acc, loss) = curves.smooth(t);
            let _ = write!(buf, "epoch {}: step {t} loss={loss:.4} accuracy={acc:.4}", i + 1);
        }
        out.push(id, path, i as f64, buf, ts);
    }
}
