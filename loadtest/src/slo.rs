//! Service-level objectives given on the command line, e.g.
//! `--slo 'loss<0.1%,p99<50ms,decrypt_failures=0'`: each is checked against the run's
//! overall figures, and a breached one makes the exit code non-zero.

use std::fmt;

use serde::Serialize;

/// A figure an objective can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Frames lost, as a fraction of the frames expected.
    Loss,
    P50,
    P90,
    P99,
    MaxLatency,
    Jitter,
    DecryptFailures,
    /// Join latency (control plane + media join), 99th percentile.
    JoinP99,
    /// Time to first decryptable frame after a join, 99th percentile.
    FirstFrameP99,
    /// Longest rekey glitch.
    RekeyGlitch,
    /// Relay egress packets/s as a fraction of the same-run baseline.
    EgressRatio,
    /// Relay CPU, in cores (1.0 = one core busy).
    RelayCpu,
}

impl Metric {
    fn parse(name: &str) -> Option<Metric> {
        Some(match name {
            "loss" => Metric::Loss,
            "p50" => Metric::P50,
            "p90" => Metric::P90,
            "p99" => Metric::P99,
            "max" | "max_latency" => Metric::MaxLatency,
            "jitter" => Metric::Jitter,
            "decrypt_failures" => Metric::DecryptFailures,
            "join_p99" => Metric::JoinP99,
            "first_frame_p99" => Metric::FirstFrameP99,
            "rekey_glitch" => Metric::RekeyGlitch,
            "egress_ratio" => Metric::EgressRatio,
            "relay_cpu" => Metric::RelayCpu,
            _ => return None,
        })
    }

    fn kind(self) -> Kind {
        match self {
            Metric::Loss | Metric::EgressRatio => Kind::Fraction,
            Metric::DecryptFailures | Metric::RelayCpu => Kind::Number,
            _ => Kind::Duration,
        }
    }

    pub const NAMES: &'static str = "loss, p50, p90, p99, max, jitter, decrypt_failures, \
        join_p99, first_frame_p99, rekey_glitch, egress_ratio, relay_cpu";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Written with `%`, stored as a fraction.
    Fraction,
    /// Written with `us`, `ms` or `s`, stored in seconds.
    Duration,
    /// A plain number.
    Number,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "=")]
    Eq,
}

impl Op {
    fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Op::Lt => value < bound,
            Op::Le => value <= bound,
            Op::Gt => value > bound,
            Op::Ge => value >= bound,
            Op::Eq => value == bound,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "=",
        }
    }
}

/// One objective: `metric op bound`, the bound in the metric's base unit (fraction,
/// seconds, or a plain number).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Objective {
    pub metric: Metric,
    pub op: Op,
    pub bound: f64,
    /// As written.
    pub text: String,
}

/// An objective checked against a run.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub objective: String,
    /// The measured value in the metric's base unit; `None` when the run did not measure it.
    pub value: Option<f64>,
    pub passed: bool,
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses a comma-separated list of objectives. The error is one line naming the problem.
pub fn parse(spec: &str) -> Result<Vec<Objective>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_one)
        .collect()
}

fn parse_one(text: &str) -> Result<Objective, String> {
    let at = text
        .find(['<', '>', '='])
        .ok_or_else(|| format!("SLO `{text}`: expected `metric<value`, `>`, `<=`, `>=` or `=`"))?;
    let (name, rest) = text.split_at(at);
    let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
        (Op::Le, v)
    } else if let Some(v) = rest.strip_prefix(">=") {
        (Op::Ge, v)
    } else if let Some(v) = rest.strip_prefix('<') {
        (Op::Lt, v)
    } else if let Some(v) = rest.strip_prefix('>') {
        (Op::Gt, v)
    } else if let Some(v) = rest.strip_prefix("==").or_else(|| rest.strip_prefix('=')) {
        (Op::Eq, v)
    } else {
        return Err(format!("SLO `{text}`: bad comparison"));
    };
    let name = name.trim();
    let metric = Metric::parse(name).ok_or_else(|| {
        format!(
            "SLO `{text}`: unknown metric `{name}` (known: {})",
            Metric::NAMES
        )
    })?;
    let bound =
        parse_value(metric.kind(), value.trim()).map_err(|why| format!("SLO `{text}`: {why}"))?;
    Ok(Objective {
        metric,
        op,
        bound,
        text: text.to_string(),
    })
}

fn parse_value(kind: Kind, v: &str) -> Result<f64, String> {
    let number = |s: &str| -> Result<f64, String> {
        let x: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("`{v}` is not a number"))?;
        if x.is_finite() && x >= 0.0 {
            Ok(x)
        } else {
            Err(format!("`{v}` must be a finite, non-negative number"))
        }
    };
    match kind {
        Kind::Fraction => match v.strip_suffix('%') {
            Some(p) => Ok(number(p)? / 100.0),
            None => Err(format!("`{v}` needs a `%` unit")),
        },
        Kind::Duration => {
            if let Some(x) = v.strip_suffix("us").or_else(|| v.strip_suffix("µs")) {
                Ok(number(x)? / 1e6)
            } else if let Some(x) = v.strip_suffix("ms") {
                Ok(number(x)? / 1e3)
            } else if let Some(x) = v.strip_suffix('s') {
                number(x)
            } else {
                Err(format!("`{v}` needs a unit: us, ms or s"))
            }
        }
        Kind::Number => number(v),
    }
}

/// Checks each objective with `value_of`, which returns the measured value of a metric in
/// its base unit (or `None` if the run did not measure it: such an objective fails).
pub fn check(objectives: &[Objective], value_of: impl Fn(Metric) -> Option<f64>) -> Vec<Verdict> {
    objectives
        .iter()
        .map(|o| {
            let value = value_of(o.metric);
            Verdict {
                objective: o.text.clone(),
                value,
                passed: value.is_some_and(|v| o.op.holds(v, o.bound)),
            }
        })
        .collect()
}

impl Objective {
    /// The objective rewritten in base units, e.g. `p99 < 0.05 s`.
    pub fn normalized(&self) -> String {
        format!("{:?} {} {}", self.metric, self.op.as_str(), self.bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_operators() {
        let o =
            parse("loss<0.1%, p99<50ms ,decrypt_failures=0,egress_ratio>=90%,max<=2s,jitter<500us")
                .unwrap();
        assert_eq!(o.len(), 6);
        assert_eq!((o[0].metric, o[0].op), (Metric::Loss, Op::Lt));
        assert!((o[0].bound - 0.001).abs() < 1e-12);
        assert!((o[1].bound - 0.05).abs() < 1e-12);
        assert_eq!(
            (o[2].metric, o[2].op, o[2].bound),
            (Metric::DecryptFailures, Op::Eq, 0.0)
        );
        assert_eq!((o[3].op, o[3].bound), (Op::Ge, 0.9));
        assert_eq!((o[4].op, o[4].bound), (Op::Le, 2.0));
        assert!((o[5].bound - 0.0005).abs() < 1e-12);
    }

    #[test]
    fn bad_objectives_are_one_line_errors() {
        for (spec, needle) in [
            ("latency<5ms", "unknown metric `latency`"),
            ("p99<50", "needs a unit"),
            ("loss<0.1", "needs a `%`"),
            ("p99", "expected `metric<value`"),
            ("p99<abcms", "is not a number"),
            ("loss<-1%", "non-negative"),
            ("p99<infms", "finite"),
        ] {
            let e = parse(spec).unwrap_err();
            assert!(e.contains(needle), "{spec}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn verdicts_follow_the_values() {
        let o = parse("loss<0.1%,p99<50ms,rekey_glitch<1s").unwrap();
        let v = check(&o, |m| match m {
            Metric::Loss => Some(0.0005),
            Metric::P99 => Some(0.08),
            _ => None,
        });
        assert!(v[0].passed);
        assert!(!v[1].passed);
        assert!(!v[2].passed, "an unmeasured objective fails");
    }
}
