//! One run: real participants (identities, registration, invites through the control
//! plane), a join ramp, media through the relay with real SFrame encryption, scheduled
//! leaves and joins that make the initiator rekey (a join: the initiator adds a participant
//! registered up front to the running meeting), and the measurements of every participant
//! plus the relay's CPU, memory and packet counters each second.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use conclave_client::api::{
    MeetingEvent, MeetingOptions, MeetingRunner, Next, Received, Role, Session, SessionOptions,
};
use conclave_client::container::{CallType, Payload};
use conclave_client::identity::Identity;
use conclave_client::media::{
    AudioConfig, AudioSource, MediaEvent, Source, VideoConfig, VideoSource,
};
use conclave_client::meeting::EpochKeys;
use conclave_crypto::CryptoProvider;
use tokio::task::JoinSet;

use crate::record::{Recorder, Windows, unix_us};
use crate::scenario::{Profile, RunSpec};

/// Live counters for the progress display.
#[derive(Debug, Default)]
pub struct Live {
    pub registered: AtomicU64,
    pub joined: AtomicU64,
    pub frames: AtomicU64,
    pub failures: AtomicU64,
}

/// One participant's outcome.
#[derive(Debug)]
pub struct ParticipantOutcome {
    pub meeting: u32,
    pub publisher: bool,
    pub left_early: bool,
    pub recorder: Recorder,
    pub warnings: Vec<String>,
}

/// Everything a run produced, before it is summarised.
#[derive(Debug)]
pub struct RunOutcome {
    pub windows: Windows,
    pub participants: Vec<ParticipantOutcome>,
    /// Rekeys the initiators performed (epochs installed after a departure or an add).
    pub rekeys: u64,
    /// Time spent registering participants (not part of the measured figures).
    pub setup: Duration,
}

fn ms(d: f64) -> Duration {
    Duration::from_secs_f64(d.max(0.0))
}

struct Prepared {
    meeting: u32,
    index: u32,
    session: Session,
}

/// Creates and registers one participant.
pub async fn register(
    url: &str,
    provider: Arc<dyn CryptoProvider>,
    name: String,
) -> Result<Session, String> {
    let now_ms = unix_us() / 1000;
    let identity =
        Identity::create(provider, now_ms).map_err(|e| format!("{name}: identity: {e}"))?;
    let options = SessionOptions {
        prekey_batch: 4,
        prekey_threshold: 1,
        ..SessionOptions::default()
    };
    let mut session = Session::connect(url, identity, None, &name, options)
        .await
        .map_err(|e| format!("{name}: connecting to {url}: {e}"))?;
    session
        .register(4)
        .await
        .map_err(|e| format!("{name}: registering: {e}"))?;
    Ok(session)
}

/// The meeting keys of the first invite among `received`.
pub fn invite_keys(received: Vec<Received>) -> Option<EpochKeys> {
    received.into_iter().find_map(|r| match r {
        Received::Opened(d) => match &d.opened.payload {
            Payload::Invite(k) => k.to_keys().ok(),
            _ => None,
        },
        Received::Refused(_) => None,
    })
}

fn sources(spec: &RunSpec, index: u32, publisher: bool) -> Vec<Source> {
    if !publisher {
        return Vec::new();
    }
    let now = Instant::now();
    let seed = spec
        .seed
        .wrapping_mul(1_000_003)
        .wrapping_add(u64::from(index));
    let audio = Source::Audio(AudioSource::new(
        now,
        AudioConfig {
            seed,
            ..AudioConfig::default()
        },
    ));
    let video = matches!(spec.profile, Profile::Video)
        || (matches!(spec.profile, Profile::Mixed) && index.is_multiple_of(2));
    if !video {
        return vec![audio];
    }
    let video = Source::Video(VideoSource::new(
        now,
        VideoConfig {
            layer_bitrates: spec.video_kbps.iter().map(|k| k * 1000).collect(),
            seed: seed ^ 0x5eed,
            ..VideoConfig::default()
        },
    ));
    vec![audio, video]
}

/// Runs `spec` against the relay at `url`.
pub async fn run(
    url: &str,
    spec: &RunSpec,
    provider: Arc<dyn CryptoProvider>,
    live: Arc<Live>,
) -> Result<RunOutcome, String> {
    spec.validate()?;
    let setup_started = Instant::now();
    // 1. Participants, registered a few at a time.
    let mut pending = JoinSet::new();
    let mut prepared: Vec<Prepared> = Vec::new();
    let concurrency = 16usize;
    let mut todo: Vec<(u32, u32)> = (0..spec.meetings)
        .flat_map(|m| (0..spec.participants + spec.join_at_s.len() as u32).map(move |i| (m, i)))
        .collect();
    todo.reverse();
    loop {
        while pending.len() < concurrency
            && let Some((m, i)) = todo.pop()
        {
            let (url, provider, live) = (url.to_string(), provider.clone(), live.clone());
            let name = format!("lt-{}-m{m}-p{i}", spec.seed);
            pending.spawn(async move {
                let s = register(&url, provider, name).await;
                live.registered.fetch_add(1, Ordering::Relaxed);
                s.map(|session| Prepared {
                    meeting: m,
                    index: i,
                    session,
                })
            });
        }
        match pending.join_next().await {
            Some(Ok(Ok(p))) => prepared.push(p),
            Some(Ok(Err(e))) => return Err(e),
            Some(Err(e)) => return Err(format!("a registration task failed: {e}")),
            None => break,
        }
    }
    prepared.sort_by_key(|p| (p.meeting, p.index));

    // 2. Invites: participant 0 of each meeting calls the others.
    let mut meetings: BTreeMap<u32, Vec<Prepared>> = BTreeMap::new();
    for p in prepared {
        meetings.entry(p.meeting).or_default().push(p);
    }
    let call_type = match spec.profile {
        Profile::Audio => CallType::Audio,
        _ => CallType::Video,
    };
    let mut joiners: Vec<Joiner> = Vec::new();
    // Per meeting: the participants added later (not in the first invite), and what they
    // need to find their invite.
    let mut late: Vec<LateJoiner> = Vec::new();
    let mut adds: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (m, mut people) in meetings {
        let later = people.split_off(spec.participants as usize);
        let mut initiator = people.remove(0);
        let hashes: Vec<String> = people
            .iter()
            .map(|p| p.session.user_hash().to_string())
            .collect();
        let invitation = initiator
            .session
            .call(&hashes, call_type)
            .await
            .map_err(|e| format!("meeting {m}: inviting: {e}"))?;
        let initiator_device = initiator.session.device_id().to_string();
        let initiator_user = initiator.session.user_hash().to_string();
        let meeting_id = invitation.meeting_id.to_hex();
        for p in later {
            adds.entry(m)
                .or_default()
                .push(p.session.user_hash().to_string());
            late.push(LateJoiner {
                meeting: m,
                index: p.index,
                session: p.session,
                meeting_id: meeting_id.clone(),
                role: Role::Member {
                    initiator_device: initiator_device.clone(),
                    initiator_user: Some(initiator_user.clone()),
                },
            });
        }
        let mut members = Vec::new();
        for mut p in people {
            let received = p
                .session
                .receive()
                .await
                .map_err(|e| format!("meeting {m}: fetching the invite: {e}"))?;
            let keys = invite_keys(received)
                .ok_or_else(|| format!("meeting {m}: participant {} got no invite", p.index))?;
            members.push(Joiner {
                meeting: m,
                index: p.index,
                session: p.session,
                keys,
                role: Role::Member {
                    initiator_device: initiator_device.clone(),
                    initiator_user: Some(initiator_user.clone()),
                },
            });
        }
        joiners.push(Joiner {
            meeting: m,
            index: 0,
            session: initiator.session,
            keys: invitation.keys,
            role: Role::Initiator {
                members: invitation.members,
                call_type,
            },
        });
        joiners.extend(members);
    }
    let setup = setup_started.elapsed();

    // 3. The timeline: a join ramp, a warm-up, the measured period, a drain.
    let total = joiners.len() as f64;
    let ramp = total / spec.ramp_per_s;
    let t0 = Instant::now();
    let t0_us = unix_us();
    let measure_start = ms(ramp + spec.warmup_s);
    let measure_end = measure_start + ms(spec.duration_s);
    let drain = Duration::from_millis(700);
    let windows = Windows {
        start_us: t0_us + measure_start.as_micros() as u64,
        end_us: t0_us + measure_end.as_micros() as u64,
        rekeys: spec
            .leave_at_s
            .iter()
            .chain(&spec.join_at_s)
            .map(|&s| {
                let at = t0_us + (measure_start + ms(s)).as_micros() as u64;
                (at.saturating_sub(500_000), at + 3_000_000)
            })
            .collect(),
    };
    // Who leaves when: per meeting, the last participants (listeners first).
    let mut leaves: BTreeMap<(u32, u32), Duration> = BTreeMap::new();
    for m in 0..spec.meetings {
        for (k, &s) in spec.leave_at_s.iter().enumerate() {
            leaves.insert((m, spec.participants - 1 - k as u32), measure_start + ms(s));
        }
    }

    let mut tasks = JoinSet::new();
    let end = t0 + measure_end + drain;
    let base = Base {
        windows: windows.clone(),
        live: live.clone(),
        end,
    };
    for (n, j) in joiners.into_iter().enumerate() {
        let start_at = t0 + ms(n as f64 / spec.ramp_per_s);
        let publisher = j.index < spec.publishers;
        let leave_at = leaves.get(&(j.meeting, j.index)).map(|&d| t0 + d);
        // The initiator adds the late participants of its meeting at the join times.
        let adds: VecDeque<(Instant, String)> = if matches!(j.role, Role::Initiator { .. }) {
            spec.join_at_s
                .iter()
                .zip(adds.get(&j.meeting).into_iter().flatten())
                .map(|(&s, u)| (t0 + measure_start + ms(s), u.clone()))
                .collect()
        } else {
            VecDeque::new()
        };
        let options = meeting_options(spec, j.meeting, j.index, publisher);
        let base = base.clone();
        tasks.spawn(async move {
            tokio::time::sleep_until(start_at.into()).await;
            let recorder = Recorder::new(base.windows.clone(), unix_us());
            let started = MeetingRunner::start(j.session, j.keys, j.role, options).await;
            participate(
                &base, j.meeting, publisher, started, recorder, leave_at, adds,
            )
            .await
        });
    }
    // The late participants: each waits for its time, fetches the invite the initiator's
    // add sent it, and joins as a member.
    for j in late {
        let k = (j.index - spec.participants) as usize;
        let join_at = t0 + measure_start + ms(spec.join_at_s[k]);
        let publisher = j.index < spec.publishers;
        let options = meeting_options(spec, j.meeting, j.index, publisher);
        let base = base.clone();
        tasks.spawn(async move {
            tokio::time::sleep_until(join_at.into()).await;
            let mut session = j.session;
            let keys = match await_invite(&mut session, &j.meeting_id).await {
                Ok(k) => k,
                Err(e) => {
                    return ParticipantOutcome {
                        meeting: j.meeting,
                        publisher,
                        left_early: false,
                        recorder: Recorder::new(base.windows.clone(), unix_us()),
                        warnings: vec![e],
                    };
                }
            };
            // Until the others switch to this epoch (the rekey's switch time), their frames
            // of the previous epoch arrive here too: the media pipeline drops them as
            // `before_join`, not as decrypt failures.
            let recorder = Recorder::new(base.windows.clone(), unix_us());
            let started = MeetingRunner::start(session, keys, j.role, options).await;
            participate(
                &base,
                j.meeting,
                publisher,
                started,
                recorder,
                None,
                VecDeque::new(),
            )
            .await
        });
    }
    let mut participants = Vec::new();
    while let Some(r) = tasks.join_next().await {
        participants.push(r.map_err(|e| format!("a participant task failed: {e}"))?);
    }
    let rekeys = ((spec.leave_at_s.len() + spec.join_at_s.len()) as u64) * u64::from(spec.meetings);
    Ok(RunOutcome {
        windows,
        participants,
        rekeys,
        setup,
    })
}

/// A participant of the first invites, ready to join.
struct Joiner {
    meeting: u32,
    index: u32,
    session: Session,
    keys: conclave_client::meeting::EpochKeys,
    role: Role,
}

/// A participant the initiator adds to the running meeting.
struct LateJoiner {
    meeting: u32,
    index: u32,
    session: Session,
    meeting_id: String,
    role: Role,
}

/// What every participant task shares.
#[derive(Clone)]
struct Base {
    windows: Windows,
    live: Arc<Live>,
    end: Instant,
}

/// How long a late participant waits for its invite.
const INVITE_WAIT: Duration = Duration::from_secs(10);

/// Fetches waiting containers until the invite to `meeting_id` arrives (bounded).
async fn await_invite(
    session: &mut Session,
    meeting_id: &str,
) -> Result<conclave_client::meeting::EpochKeys, String> {
    let deadline = Instant::now() + INVITE_WAIT;
    loop {
        let received = session
            .receive()
            .await
            .map_err(|e| format!("fetching the invite: {e}"))?;
        for r in received {
            if let Received::Opened(d) = r
                && let Payload::Invite(k) = &d.opened.payload
                && k.meeting_id == meeting_id
            {
                return k.to_keys().map_err(|e| format!("the invite: {e}"));
            }
        }
        if Instant::now() >= deadline {
            return Err(format!("no invite within {} s", INVITE_WAIT.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One participant in its meeting until the end: records what it receives, leaves at
/// `leave_at`, and (the initiator) adds the users of `adds` at their times.
async fn participate(
    base: &Base,
    meeting: u32,
    publisher: bool,
    started: conclave_client::api::SdkResult<MeetingRunner>,
    mut recorder: Recorder,
    leave_at: Option<Instant>,
    mut adds: VecDeque<(Instant, String)>,
) -> ParticipantOutcome {
    let (live, end) = (&base.live, base.end);
    let mut warnings = Vec::new();
    let mut runner = match started {
        Ok(r) => r,
        Err(e) => {
            warnings.push(format!("join failed: {e}"));
            return ParticipantOutcome {
                meeting,
                publisher,
                left_early: false,
                recorder,
                warnings,
            };
        }
    };
    let mut left = false;
    loop {
        let mut deadline = match leave_at {
            Some(l) if !left => l.min(end),
            _ => end,
        };
        if let Some((at, _)) = adds.front() {
            deadline = deadline.min(*at);
        }
        match runner.next_event_until(Some(deadline.into())).await {
            Next::Event(MeetingEvent::Media(MediaEvent::Joined { .. })) => {
                recorder.joined(unix_us());
                live.joined.fetch_add(1, Ordering::Relaxed);
            }
            Next::Event(MeetingEvent::Media(MediaEvent::Frame(f))) => {
                recorder.frame(&f, unix_us());
                live.frames.fetch_add(1, Ordering::Relaxed);
            }
            Next::Event(MeetingEvent::Rekeyed { epoch, .. }) => {
                recorder.rekeyed(epoch, unix_us());
            }
            Next::Event(MeetingEvent::Warning(w)) => warnings.push(w),
            Next::Event(MeetingEvent::Excluded | MeetingEvent::Ended) => break,
            Next::Event(_) => {}
            Next::Timeout => {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                if let Some((at, user)) = adds.front()
                    && *at <= now
                {
                    if let Err(e) = runner.add(user).await {
                        warnings.push(format!("adding {user} failed: {e}"));
                    }
                    adds.pop_front();
                    continue;
                }
                if !left && leave_at.is_some_and(|l| l <= now) {
                    if let Some(stats) = runner.stats().await {
                        recorder.frames_sent = own_sent(&stats);
                    }
                    if let Err(e) = runner.leave().await {
                        warnings.push(format!("leave failed: {e}"));
                    }
                    left = true;
                }
            }
            Next::Done => break,
        }
    }
    if let Some(stats) = runner.stats().await {
        recorder.frames_sent = own_sent(&stats);
        let events_dropped = runner.media().events_dropped().await.unwrap_or(0);
        recorder.final_stats(&stats, events_dropped);
        live.failures
            .fetch_add(recorder.decrypt_failures, Ordering::Relaxed);
    }
    drop(runner.finish().await);
    ParticipantOutcome {
        meeting,
        publisher,
        left_early: left,
        recorder,
        warnings,
    }
}

/// What a participant sends (its sources) and that its frames are delivered to be measured.
fn meeting_options(spec: &RunSpec, meeting: u32, index: u32, publisher: bool) -> MeetingOptions {
    MeetingOptions {
        sources: sources(spec, meeting * spec.participants + index, publisher),
        deliver_frames: true,
        ..MeetingOptions::default()
    }
}

fn own_sent(stats: &conclave_client::media::MediaStats) -> u64 {
    stats
        .participants
        .get(&stats.own_index)
        .map_or(0, |p| p.frames_sent)
}
