//! Webhook bodies: Messenger's JSON in, [`Inbound`] messages out.
//!
//! A body holds `entry[]`, each with `messaging[]` events. Text messages,
//! quick replies and postbacks become messages for the bot; a message with
//! only attachments becomes one with no input. Echoes of the page's own
//! messages, delivery and read receipts, reactions and kinds we do not
//! know are skipped, as is any single event whose shape we cannot read,
//! so one odd event never costs the others in its batch.

use serde::Deserialize;

use crate::channel::{Inbound, Input};

/// Why a webhook body could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is not JSON of the expected shape.
    #[error("webhook body is not valid messenger json")]
    Json(#[from] serde_json::Error),
    /// The body is for another product than Messenger pages.
    #[error("webhook object is {0:?}, not \"page\"")]
    NotPage(String),
}

/// The whole body of one webhook POST.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Body {
    object: String,
    entry: Vec<Entry>,
}

/// One page's batch of events.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Entry {
    /// Kept raw so that one unreadable event is skipped alone.
    messaging: Vec<serde_json::Value>,
}

/// One messaging event; only the kinds we answer are modelled.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Event {
    sender: Party,
    timestamp: u64,
    message: Option<Message>,
    postback: Option<Postback>,
}

/// A sender or recipient.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Party {
    id: String,
}

/// A message a person sent (or, with `is_echo`, the page sent).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Message {
    mid: Option<String>,
    text: Option<String>,
    is_echo: bool,
    quick_reply: Option<QuickReply>,
}

/// The quick reply a person tapped.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct QuickReply {
    payload: String,
}

/// A tapped button (including Get Started).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Postback {
    mid: Option<String>,
    payload: String,
}

/// Read every message for the bot from one webhook body, in order.
pub fn parse_events(body: &[u8]) -> Result<Vec<Inbound>, ParseError> {
    let body: Body = serde_json::from_slice(body)?;
    if body.object != "page" {
        return Err(ParseError::NotPage(body.object));
    }
    let events = body.entry.into_iter().flat_map(|entry| entry.messaging);
    Ok(events.filter_map(read_event).collect())
}

/// One raw event to an inbound message, or `None` to skip it.
fn read_event(raw: serde_json::Value) -> Option<Inbound> {
    let event: Event = match serde_json::from_value(raw) {
        Ok(event) => event,
        Err(err) => {
            tracing::debug!(error = %err, "skipped unreadable messenger event");
            return None;
        }
    };
    if event.sender.id.is_empty() {
        tracing::debug!("skipped messenger event without a sender");
        return None;
    }
    let address = format!("messenger:{}", event.sender.id);
    if let Some(message) = event.message {
        return from_message(address, message);
    }
    if let Some(postback) = event.postback {
        let fallback_id = format!("{}:{}:postback", event.sender.id, event.timestamp);
        return Some(from_postback(address, fallback_id, postback));
    }
    // Deliveries, reads, reactions and kinds we do not know.
    None
}

/// A message event: text, quick reply, or something we cannot read.
fn from_message(address: String, message: Message) -> Option<Inbound> {
    if message.is_echo {
        return None;
    }
    let payload = message.quick_reply.map(|quick| quick.payload);
    let input = match (payload, message.text) {
        (Some(payload), _) if !payload.is_empty() => Some(Input::Payload(payload)),
        (_, Some(text)) if !text.is_empty() => Some(Input::Text(text)),
        // Attachments only (an image, a sticker): answered as not
        // understood.
        _ => None,
    };
    Some(Inbound {
        address,
        message_id: message.mid,
        input,
    })
}

/// A postback; older postbacks carry no `mid`, so `fallback_id` is used.
fn from_postback(address: String, fallback_id: String, postback: Postback) -> Inbound {
    Inbound {
        address,
        message_id: Some(postback.mid.unwrap_or(fallback_id)),
        input: Some(Input::Payload(postback.payload)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::messenger::test_support::fixture;

    const GUEST: &str = "messenger:7000000000000042";

    fn parse(name: &str) -> Vec<Inbound> {
        parse_events(&fixture(name)).unwrap()
    }

    fn inbound(id: &str, input: Option<Input>) -> Inbound {
        Inbound {
            address: GUEST.to_string(),
            message_id: Some(id.to_string()),
            input,
        }
    }

    #[test]
    fn a_text_message_becomes_text_input() {
        let want = inbound("m_txt_0001", Some(Input::Text("Setup".into())));
        assert_eq!(parse("message_text.json"), vec![want]);
    }

    #[test]
    fn a_quick_reply_becomes_its_payload() {
        let want = inbound("m_qr_0001", Some(Input::Payload("SetupVPN".into())));
        assert_eq!(parse("message_quick_reply.json"), vec![want]);
    }

    #[test]
    fn get_started_becomes_a_postback_payload() {
        let want = inbound("m_pb_0001", Some(Input::Payload("GetStarted".into())));
        assert_eq!(parse("postback_get_started.json"), vec![want]);
    }

    #[test]
    fn an_echo_yields_nothing() {
        assert_eq!(parse("message_echo.json"), vec![]);
    }

    #[test]
    fn deliveries_and_reads_yield_nothing() {
        assert_eq!(parse("delivery_and_read.json"), vec![]);
    }

    #[test]
    fn a_batch_yields_both_users_in_order() {
        let got = parse("batch_two_users.json");
        let addresses: Vec<_> = got.iter().map(|i| i.address.as_str()).collect();
        assert_eq!(addresses, [GUEST, "messenger:7000000000000001"]);
        assert_eq!(got[1].message_id.as_deref(), Some("m_pb_0102"));
    }

    #[test]
    fn unicode_text_round_trips_exactly() {
        let text = "Grüße Jörg 👋 — café";
        let want = inbound("m_uni_0001", Some(Input::Text(text.into())));
        assert_eq!(parse("message_unicode.json"), vec![want]);
    }

    #[test]
    fn an_attachment_without_text_has_no_input() {
        assert_eq!(
            parse("attachment_only.json"),
            vec![inbound("m_att_0001", None)]
        );
    }

    #[test]
    fn a_postback_without_mid_gets_a_synthetic_id() {
        let body = br#"{"object":"page","entry":[{"messaging":[{"sender":{"id":"9"},
            "timestamp":1234,"postback":{"payload":"Help"}}]}]}"#;
        let got = parse_events(body).unwrap();
        assert_eq!(got[0].message_id.as_deref(), Some("9:1234:postback"));
    }

    #[test]
    fn unknown_kinds_and_odd_events_are_skipped_not_fatal() {
        let body = br#"{"object":"page","extra":1,"entry":[{"messaging":[
            {"sender":{"id":"9"},"reaction":{"reaction":"love"}},
            {"sender":{"id":"9"},"timestamp":"not a number"},
            {"sender":{"id":"9"},"message":{"mid":"m1","text":"hi","new":true}}
            ]}]}"#;
        let got = parse_events(body).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].input, Some(Input::Text("hi".into())));
    }

    #[test]
    fn a_non_page_object_is_rejected() {
        let err = parse_events(br#"{"object":"instagram","entry":[]}"#);
        assert!(matches!(err, Err(ParseError::NotPage(o)) if o == "instagram"));
    }

    #[test]
    fn broken_json_is_rejected() {
        assert!(matches!(
            parse_events(b"{\"object\":"),
            Err(ParseError::Json(_))
        ));
    }
}
