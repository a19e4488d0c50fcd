//! Browsers' WHIP-style signalling (docs/PROTOCOL.md §13.2): `POST` an SDP offer with the
//! join ticket as credential, get the relay's answer; `DELETE` the session.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use conclave_wire::media::RejectReason;

use crate::control::error::{ApiError, ApiResult};
use crate::control::input;
use crate::control::state::{SharedState, blocking_plain, now_ms};
use crate::media::webrtc::OfferRefused;
use crate::media::webrtc::signal::{SignalError, TicketAuth, check_offer};

fn bad_sdp(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_sdp", message)
}

fn signal_error(e: SignalError) -> ApiError {
    match e {
        SignalError::BadCredential | SignalError::BadProof | SignalError::Expired => {
            ApiError::unauthorized(e.to_string())
        }
        SignalError::TooLarge => ApiError::too_large(crate::media::webrtc::signal::MAX_OFFER),
        SignalError::BadSdp(_) | SignalError::Unusable(_) => bad_sdp(e.to_string()),
    }
}

/// The `Ticket` credential of a request, verified over `body`.
fn ticket(
    s: &SharedState,
    headers: &HeaderMap,
    meeting: [u8; 32],
    body: &[u8],
) -> ApiResult<TicketAuth> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::unauthorized("a Ticket credential is required"))?;
    let auth = TicketAuth::parse(value).map_err(signal_error)?;
    auth.verify(s.media.ticket_secret(), meeting, body, now_ms())
        .map_err(signal_error)?;
    Ok(auth)
}

fn meeting_bytes(meeting_id: &str) -> ApiResult<[u8; 32]> {
    let id = input::meeting_id(meeting_id)?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(&id, &mut out).map_err(|_| ApiError::bad_request("malformed id"))?;
    Ok(out)
}

/// `POST /v1/meetings/{meeting_id}/webrtc`: the SDP offer in, the answer out.
pub async fn offer(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(meeting_id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let meeting = meeting_bytes(&meeting_id)?;
    let auth = ticket(&s, &headers, meeting, &body)?;
    if !s.media.webrtc() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "WebRTC is switched off on this relay",
        ));
    }
    let offer = check_offer(&body).map_err(signal_error)?;
    let join = auth.join(meeting);
    let media = s.media.clone();
    let answer = blocking_plain(move || media.webrtc_offer(join, offer)).await?;
    let answer = answer.map_err(|r| match r {
        OfferRefused::Rejected(RejectReason::WrongWorker) => {
            ApiError::conflict("the meeting is served by another worker: ask for a new ticket")
        }
        OfferRefused::Rejected(RejectReason::TicketExpired) => {
            ApiError::unauthorized("the ticket has expired")
        }
        OfferRefused::Rejected(RejectReason::RelayFull) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the relay is full",
        ),
        OfferRefused::Rejected(reason) => ApiError::forbidden(format!(
            "the ticket is refused ({})",
            match reason {
                RejectReason::Removed => "removed from the meeting, or the meeting ended",
                _ => "its session has already joined or closed",
            }
        )),
        OfferRefused::BadSdp(m) => bad_sdp(m),
        OfferRefused::Unavailable => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the media worker did not answer",
        ),
    })?;
    let location = format!(
        "/v1/meetings/{}/webrtc/{}",
        hex::encode(meeting),
        hex::encode(auth.session_id)
    );
    let mut r = (StatusCode::CREATED, answer).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// `DELETE /v1/meetings/{meeting_id}/webrtc/{session_id}` (proof over the empty body).
pub async fn close(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path((meeting_id, session_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let meeting = meeting_bytes(&meeting_id)?;
    let auth = ticket(&s, &headers, meeting, b"")?;
    if hex::encode(auth.session_id) != session_id.to_ascii_lowercase() {
        return Err(ApiError::forbidden("the ticket is for another session"));
    }
    s.media.webrtc_close(auth.worker, meeting, auth.session_id);
    Ok(StatusCode::NO_CONTENT)
}
