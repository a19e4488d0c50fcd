//! The control plane and the media workers together (the real relay binary): join tickets
//! derive their key exactly as PROTOCOL §11.1 says and name the meeting's worker; a member
//! recorded `left` or `removed`, or an ended meeting, has its sessions closed with the
//! right reason and its earlier tickets refused; the other members hear of it on the push
//! channel.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::media::{Device, MediaClient, RelayProcess, create_meeting, join_ticket, session_key};
use conclave_wire::media::{Body, CloseReason, RejectReason};
use serde_json::{Value, json};

/// Waits for `CLOSED` on `client`'s socket.
fn closed(client: &MediaClient) -> Option<CloseReason> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        if let Ok(n) = client.socket.recv(&mut buf)
            && let Some(d) = client.open(&buf[..n])
            && let Body::Closed(r) = d.body
        {
            return Some(r);
        }
    }
    None
}

type Ws = tungstenite::WebSocket<TcpStream>;

fn push_channel(relay: &RelayProcess, who: &Device) -> Ws {
    let addr = relay.url.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let url = format!("ws://{addr}/v1/push?token=dev:{}:{}", who.user, who.device);
    let (ws, _) = tungstenite::client(url, stream).expect("websocket");
    ws
}

/// The next push frame of `type` `ty`.
fn next_push(ws: &mut Ws, ty: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == ty {
                    return v;
                }
            }
            Ok(_) => {}
            Err(e) => panic!("push channel: {e}"),
        }
    }
    panic!("no {ty} push frame");
}

fn set_member(
    relay: &RelayProcess,
    meeting: &str,
    by: &Device,
    target: &Device,
    state: &str,
) -> u16 {
    relay
        .call(
            "POST",
            &format!("/v1/meetings/{meeting}/members"),
            by,
            Some(json!({"device_id": target.device, "state": state})),
        )
        .0
}

#[test]
fn tickets_follow_section_11_1_and_pin_meetings_to_workers() {
    let relay = RelayProcess::start("[media]\nworkers = 2\n");
    let secret = relay.ticket_secret();
    let (host, guest) = (Device::new(1), Device::new(2));
    let m1 = create_meeting(&relay, &host, 1);
    let m2 = create_meeting(&relay, &host, 2);
    let t1 = join_ticket(&relay, &m1, &host);
    let t1b = join_ticket(&relay, &m1, &guest);
    let t2 = join_ticket(&relay, &m2, &guest);
    for t in [&t1, &t1b, &t2] {
        assert_eq!(t.key, session_key(&secret, &t.join), "PROTOCOL §11.1");
        assert!(t.join.worker < 2);
    }
    assert_eq!((t1.join.worker, t1.address), (t1b.join.worker, t1b.address));
    assert_ne!(
        t1.join.worker, t2.join.worker,
        "the second meeting goes to the idle worker"
    );
    assert_ne!(t1.address, t2.address);
    assert_ne!(t1.join.session_id, t1b.join.session_id);
    // Each worker admits its own tickets.
    let a = MediaClient::join(t1).expect("worker of meeting 1");
    let b = MediaClient::join(t2).expect("worker of meeting 2");
    assert_ne!(a.ticket.address, b.ticket.address);
}

#[test]
fn leaving_removal_and_the_end_close_sessions_and_refuse_old_tickets() {
    let relay = RelayProcess::start("[media]\nworkers = 1\n");
    let (host, guest, third) = (Device::new(1), Device::new(2), Device::new(3));
    let meeting = create_meeting(&relay, &host, 9);
    let mut host_push = push_channel(&relay, &host);
    let mut third_push = push_channel(&relay, &third);
    let h = MediaClient::join(join_ticket(&relay, &meeting, &host)).expect("host");
    let g_ticket = join_ticket(&relay, &meeting, &guest);
    let g = MediaClient::join(g_ticket.clone()).expect("guest");
    let t_ticket = join_ticket(&relay, &meeting, &third);
    let t = MediaClient::join(t_ticket.clone()).expect("third");

    // Removal: CLOSED(2); the old ticket is refused with reason 3 (even a fresh socket);
    // no new ticket; the others hear of it.
    assert_eq!(set_member(&relay, &meeting, &host, &guest, "removed"), 204);
    assert_eq!(closed(&g), Some(CloseReason::Removed));
    match MediaClient::join(g_ticket) {
        Err(Body::JoinReject(r)) => assert_eq!(r, RejectReason::Removed),
        Ok(_) => panic!("a removed device joined"),
        Err(other) => panic!("{other:?}"),
    }
    let (status, _) = relay.call(
        "POST",
        &format!("/v1/meetings/{meeting}/join"),
        &guest,
        None,
    );
    assert_eq!(status, 403);
    assert_eq!(set_member(&relay, &meeting, &guest, &guest, "joined"), 403);
    for ws in [&mut host_push, &mut third_push] {
        let ev = next_push(ws, "member");
        assert_eq!(
            ev,
            json!({"type": "member", "meeting_id": meeting, "device_id": guest.device, "state": "removed"})
        );
    }

    // Leaving: CLOSED(1), the old ticket refused (5); a fresh ticket joins again.
    assert_eq!(set_member(&relay, &meeting, &third, &third, "left"), 204);
    assert_eq!(closed(&t), Some(CloseReason::Left));
    match MediaClient::join(t_ticket) {
        Err(Body::JoinReject(r)) => assert_eq!(r, RejectReason::SessionClosed),
        Ok(_) => panic!("an old ticket joined after leaving"),
        Err(other) => panic!("{other:?}"),
    }
    let ev = next_push(&mut host_push, "member");
    assert_eq!(ev["state"], "left");
    assert_eq!(ev["device_id"], third.device);
    std::thread::sleep(Duration::from_millis(5));
    let again = MediaClient::join(join_ticket(&relay, &meeting, &third)).expect("rejoin");

    // The end: CLOSED(3) for everyone still there; no more tickets.
    let (status, _) = relay.call("POST", &format!("/v1/meetings/{meeting}/end"), &host, None);
    assert_eq!(status, 204);
    assert_eq!(closed(&h), Some(CloseReason::MeetingEnded));
    assert_eq!(closed(&again), Some(CloseReason::MeetingEnded));
    let (status, _) = relay.call("POST", &format!("/v1/meetings/{meeting}/join"), &host, None);
    assert_eq!(status, 409);
}
