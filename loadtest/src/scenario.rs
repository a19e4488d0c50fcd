//! What a run does: the parameters of one load test, from command-line flags or from a
//! scenario file (TOML) holding a suite of runs. Every run is bounded in participants and
//! time.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Most participants one run may spawn (every one is a real client with real keys).
pub const MAX_PARTICIPANTS: u32 = 5000;
/// Longest run, warm-up included.
pub const MAX_SECONDS: f64 = 3600.0;

/// The media each publisher sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// 20 ms audio frames.
    Audio,
    /// Audio plus three simulcast video layers at 30 fps.
    Video,
    /// Every other publisher sends video, the rest audio only.
    Mixed,
}

/// One run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSpec {
    pub name: String,
    pub meetings: u32,
    /// Participants per meeting.
    pub participants: u32,
    /// Publishers per meeting (the first ones to join); the others only listen.
    pub publishers: u32,
    pub profile: Profile,
    /// Bitrates of the three video layers, kbit/s, lowest first.
    pub video_kbps: [u32; 3],
    /// Seconds measured (after the warm-up).
    pub duration_s: f64,
    /// Seconds after the last join before measuring starts.
    pub warmup_s: f64,
    /// Joins per second across the run (the join ramp).
    pub ramp_per_s: f64,
    /// Seconds into the measured period at which one listener (or publisher, if there
    /// are no listeners) per meeting leaves, making the initiator rekey; empty for none.
    pub leave_at_s: Vec<f64>,
    /// Seconds into the measured period at which one more participant per meeting
    /// (registered up front, not in the first invite) is added by the initiator, making it
    /// rekey; empty for none.
    pub join_at_s: Vec<f64>,
    pub seed: u64,
}

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            name: "run".into(),
            meetings: 1,
            participants: 4,
            publishers: 4,
            profile: Profile::Audio,
            video_kbps: [150, 500, 1500],
            duration_s: 10.0,
            warmup_s: 2.0,
            ramp_per_s: 50.0,
            leave_at_s: Vec::new(),
            join_at_s: Vec::new(),
            seed: 1,
        }
    }
}

impl RunSpec {
    /// The participants of the first invites (the join ramp).
    pub fn total_participants(&self) -> u32 {
        self.meetings.saturating_mul(self.participants)
    }

    /// Every participant of the run: those of the first invites and those added later.
    pub fn all_participants(&self) -> u32 {
        let joins = u32::try_from(self.join_at_s.len()).unwrap_or(u32::MAX);
        self.meetings
            .saturating_mul(self.participants.saturating_add(joins))
    }

    /// Checks the run; the error is one line naming the problem.
    pub fn validate(&self) -> Result<(), String> {
        let n = &self.name;
        let fail = |why: String| Err(format!("run `{n}`: {why}"));
        if self.meetings == 0 {
            return fail("meetings must be at least 1".into());
        }
        if self.participants < 2 {
            return fail("a meeting needs at least 2 participants".into());
        }
        if self.participants > 1024 {
            return fail("at most 1024 participants per meeting (the roster limit)".into());
        }
        if self.all_participants() > MAX_PARTICIPANTS {
            return fail(format!(
                "{} participants in all; the limit is {MAX_PARTICIPANTS}",
                self.all_participants()
            ));
        }
        if self.publishers == 0 || self.publishers > self.participants {
            return fail(format!(
                "publishers must be 1..={} (the participants per meeting)",
                self.participants
            ));
        }
        if self.video_kbps.iter().any(|&k| !(8..=50_000).contains(&k))
            || self.video_kbps.windows(2).any(|w| w[0] >= w[1])
        {
            return fail("video_kbps must be three increasing values in 8..=50000".into());
        }
        for (what, v) in [("duration_s", self.duration_s), ("warmup_s", self.warmup_s)] {
            if !v.is_finite() || v < 0.0 {
                return fail(format!("{what} must be a non-negative number"));
            }
        }
        if self.duration_s < 1.0 {
            return fail("duration_s must be at least 1".into());
        }
        if !self.ramp_per_s.is_finite() || self.ramp_per_s <= 0.0 {
            return fail("ramp_per_s must be positive".into());
        }
        let ramp = f64::from(self.total_participants()) / self.ramp_per_s;
        if ramp + self.warmup_s + self.duration_s > MAX_SECONDS {
            return fail(format!(
                "the run would last {:.0} s (ramp + warm-up + duration); the limit is {MAX_SECONDS} s",
                ramp + self.warmup_s + self.duration_s
            ));
        }
        if let Some(t) = self
            .leave_at_s
            .iter()
            .find(|&&t| !t.is_finite() || t < 0.0 || t >= self.duration_s)
        {
            return fail(format!("leave_at_s {t} is outside the measured period"));
        }
        if self.leave_at_s.len() as u32 >= self.participants - 1 {
            return fail("more leaves than participants who could leave".into());
        }
        if let Some(t) = self
            .join_at_s
            .iter()
            .find(|&&t| !t.is_finite() || t < 0.0 || t >= self.duration_s)
        {
            return fail(format!("join_at_s {t} is outside the measured period"));
        }
        if self.participants as usize + self.join_at_s.len() > 1024 {
            return fail(
                "at most 1024 participants per meeting with the joins (the roster limit)".into(),
            );
        }
        Ok(())
    }
}

/// A scenario file: a suite of runs, each with defaults from `[defaults]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    defaults: Option<toml::Table>,
    #[serde(default)]
    run: Vec<toml::Table>,
}

/// Reads a scenario file. Every error is one line naming the file.
pub fn load(path: &Path) -> Result<Vec<RunSpec>, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    parse(&text).map_err(|e| format!("{shown}: {e}"))
}

/// Parses a scenario; one-line errors.
pub fn parse(text: &str) -> Result<Vec<RunSpec>, String> {
    let file: ScenarioFile = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
    if file.run.is_empty() {
        return Err("no [[run]] in the scenario".into());
    }
    let defaults = file.defaults.unwrap_or_default();
    file.run
        .into_iter()
        .enumerate()
        .map(|(i, table)| {
            let mut merged = defaults.clone();
            merged.extend(table);
            merged
                .entry("name")
                .or_insert_with(|| toml::Value::String(format!("run-{}", i + 1)));
            let spec: RunSpec =
                toml::Value::Table(merged)
                    .try_into()
                    .map_err(|e: toml::de::Error| {
                        format!("run {}: {}", i + 1, one_line(&e.to_string()))
                    })?;
            spec.validate()?;
            Ok(spec)
        })
        .collect()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suite_with_defaults() {
        let runs = parse(
            r#"
            [defaults]
            duration_s = 5
            profile = "video"

            [[run]]
            name = "small"
            participants = 3
            publishers = 3

            [[run]]
            meetings = 10
            participants = 10
            publishers = 2
            leave_at_s = [2.5]
            join_at_s = [1, 3.5]
            "#,
        )
        .unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].name, "small");
        assert_eq!(runs[0].profile, Profile::Video);
        assert_eq!(runs[0].duration_s, 5.0);
        assert_eq!(runs[1].name, "run-2");
        assert_eq!(runs[1].total_participants(), 100);
        assert_eq!(runs[1].leave_at_s, vec![2.5]);
        assert_eq!(runs[1].join_at_s, vec![1.0, 3.5]);
        assert_eq!(runs[1].all_participants(), 120);
        assert!(runs[0].join_at_s.is_empty());
    }

    #[test]
    fn bad_scenarios_are_one_line_errors() {
        for (text, needle) in [
            ("", "no [[run]]"),
            ("[[run]]\nparticipants = 1", "at least 2 participants"),
            (
                "[[run]]\nparticipants = 4\npublishers = 5",
                "publishers must be",
            ),
            ("[[run]]\nbogus = 1", "unknown field `bogus`"),
            ("[[run]]\nprofile = \"hologram\"", "unknown variant"),
            (
                "[[run]]\nmeetings = 100\nparticipants = 100\npublishers = 1",
                "the limit is 5000",
            ),
            ("[[run]]\nvideo_kbps = [500, 100, 1000]", "increasing"),
            (
                "[[run]]\nduration_s = 5\nleave_at_s = [7]",
                "outside the measured period",
            ),
            (
                "[[run]]\nduration_s = 5\njoin_at_s = [-1]",
                "join_at_s -1 is outside the measured period",
            ),
            ("[[run]\n", "expected"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
