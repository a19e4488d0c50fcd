//! [`MediaClient`]: a tokio task that runs a [`MediaPipeline`] on a UDP socket, with a
//! cloneable handle (install a new epoch, leave, read stats, …) and a stream of
//! [`MediaEvent`]s. The task is a thin shell: every decision is the pipeline's.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use conclave_wire::media::{Layer, MAX_DATAGRAM};
use thiserror::Error;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::media::pipeline::{MediaEvent, MediaPipeline, PipelineConfig};
use crate::media::session::MediaTicket;
use crate::media::source::Source;
use crate::media::stats::MediaStats;
use crate::meeting::{EpochKeys, MeetingCrypto};

/// Settings of a [`MediaClient`].
#[derive(Debug, Clone)]
pub struct MediaClientConfig {
    pub ticket: MediaTicket,
    pub pipeline: PipelineConfig,
    /// Local address to bind; default: any address of the relay's family, any port.
    pub bind: Option<SocketAddr>,
    /// Events buffered for the application; when full, further events are dropped (and
    /// counted in [`MediaStats::frames_not_sent`]'s sibling `events_dropped`, see
    /// [`MediaClient::events_dropped`]) rather than stalling the media.
    pub event_capacity: usize,
    /// Whether [`MediaEvent::Frame`] events are delivered (an application that only wants
    /// files, speakers and stats can turn them off).
    pub deliver_frames: bool,
}

impl MediaClientConfig {
    pub fn new(ticket: MediaTicket) -> Self {
        MediaClientConfig {
            ticket,
            pipeline: PipelineConfig::default(),
            bind: None,
            event_capacity: 4096,
            deliver_frames: true,
        }
    }
}

/// A command could not be carried out.
#[derive(Debug, Error)]
pub enum MediaCommandError {
    #[error("the media session has ended")]
    Ended,
    #[error(transparent)]
    Client(#[from] crate::ClientError),
}

enum Command {
    InstallEpoch {
        keys: EpochKeys,
        overlap: Duration,
        reply: oneshot::Sender<crate::Result<()>>,
    },
    Leave,
    Stats(oneshot::Sender<(MediaStats, u64)>),
    LayerPreference(Option<Layer>),
    AddSource(Source),
    StopFiles,
}

/// A handle on a running media session. Dropping every handle leaves the meeting.
#[derive(Debug, Clone)]
pub struct MediaClient {
    commands: mpsc::UnboundedSender<Command>,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl MediaClient {
    /// Binds a UDP socket, starts joining the relay with the ticket, and runs the media
    /// task. Returns the handle, the events, and the task (it ends after the session ended:
    /// left, closed by the relay, rejected, timed out).
    pub async fn connect(
        config: MediaClientConfig,
        crypto: MeetingCrypto,
        sources: Vec<Source>,
    ) -> io::Result<(MediaClient, mpsc::Receiver<MediaEvent>, JoinHandle<()>)> {
        let bind = config.bind.unwrap_or(match config.ticket.address {
            SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        });
        let socket = UdpSocket::bind(bind).await?;
        let local_addr = socket.local_addr()?;
        let (commands, rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::channel(config.event_capacity.max(16));
        let pipeline = MediaPipeline::new(
            Instant::now(),
            config.ticket,
            crypto,
            sources,
            config.pipeline,
        );
        let task = tokio::spawn(run(socket, pipeline, rx, events_tx, config.deliver_frames));
        Ok((
            MediaClient {
                commands,
                local_addr,
            },
            events,
            task,
        ))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    fn send(&self, c: Command) -> Result<(), MediaCommandError> {
        self.commands.send(c).map_err(|_| MediaCommandError::Ended)
    }

    /// Installs a new epoch (PROTOCOL §12.3): receive keys at once, sending switches after
    /// `overlap` (reference 250 ms; zero switches at once).
    pub async fn install_epoch(
        &self,
        keys: EpochKeys,
        overlap: Duration,
    ) -> Result<(), MediaCommandError> {
        let (reply, r) = oneshot::channel();
        self.send(Command::InstallEpoch {
            keys,
            overlap,
            reply,
        })?;
        Ok(r.await.map_err(|_| MediaCommandError::Ended)??)
    }

    /// Leaves the meeting; the events end with [`MediaEvent::Ended`].
    pub fn leave(&self) -> Result<(), MediaCommandError> {
        self.send(Command::Leave)
    }

    /// A snapshot of the statistics.
    pub async fn stats(&self) -> Result<MediaStats, MediaCommandError> {
        Ok(self.stats_and_dropped().await?.0)
    }

    /// Events dropped because the application did not read them fast enough.
    pub async fn events_dropped(&self) -> Result<u64, MediaCommandError> {
        Ok(self.stats_and_dropped().await?.1)
    }

    async fn stats_and_dropped(&self) -> Result<(MediaStats, u64), MediaCommandError> {
        let (reply, r) = oneshot::channel();
        self.send(Command::Stats(reply))?;
        r.await.map_err(|_| MediaCommandError::Ended)
    }

    /// The highest video layer wanted (`None`: no video).
    pub fn set_layer_preference(&self, max_layer: Option<Layer>) -> Result<(), MediaCommandError> {
        self.send(Command::LayerPreference(max_layer))
    }

    /// Adds a source (e.g. a file carousel) to a running session.
    pub fn add_source(&self, source: Source) -> Result<(), MediaCommandError> {
        self.send(Command::AddSource(source))
    }

    /// Stops every file carousel.
    pub fn stop_files(&self) -> Result<(), MediaCommandError> {
        self.send(Command::StopFiles)
    }
}

async fn run(
    socket: UdpSocket,
    mut p: MediaPipeline,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<MediaEvent>,
    deliver_frames: bool,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut dropped_events = 0u64;
    let mut handles_gone = false;
    loop {
        while let Some(t) = p.poll_transmit() {
            // A failed send is a lost datagram, like any other loss on UDP.
            let _ = socket.send_to(&t.contents, t.destination).await;
            p.recycle(t.contents);
        }
        let mut ended = false;
        while let Some(ev) = p.poll_event() {
            match ev {
                MediaEvent::Frame(f) if !deliver_frames => p.recycle(f.into_buffer()),
                ev => {
                    ended |= matches!(ev, MediaEvent::Ended(_));
                    if events.try_send(ev).is_err() {
                        dropped_events += 1;
                    }
                }
            }
        }
        if ended {
            break;
        }
        let deadline = p
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let now = Instant::now();
                if let Ok((n, from)) = r {
                    p.handle_datagram(now, from, buf.get(..n).unwrap_or_default());
                    // Drain what else is queued without waking up again.
                    for _ in 0..64 {
                        match socket.try_recv_from(&mut buf) {
                            Ok((n, from)) => p.handle_datagram(now, from, buf.get(..n).unwrap_or_default()),
                            Err(_) => break,
                        }
                    }
                }
                if p.poll_timeout().is_some_and(|t| t <= now) {
                    p.handle_timeout(now);
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => p.handle_timeout(Instant::now()),
            c = commands.recv(), if !handles_gone => {
                let now = Instant::now();
                match c {
                    None => {
                        handles_gone = true;
                        p.leave(now);
                    }
                    Some(Command::InstallEpoch { keys, overlap, reply }) => {
                        let _ = reply.send(p.install_epoch(now, keys, overlap));
                    }
                    Some(Command::Leave) => p.leave(now),
                    Some(Command::Stats(reply)) => {
                        let _ = reply.send((p.stats(), dropped_events));
                    }
                    Some(Command::LayerPreference(l)) => p.set_layer_preference(l),
                    Some(Command::AddSource(s)) => {
                        p.add_source(s);
                        p.handle_timeout(now);
                    }
                    Some(Command::StopFiles) => p.stop_files(),
                }
            }
        }
    }
}
