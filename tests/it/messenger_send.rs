//! The Send API client against a local Graph API stand-in.

use std::time::Duration;

use sandbot::channel::messenger::SendApi;
use sandbot::channel::{Button, Outbox, Reply};
use crate::support::graph::GraphStandIn;

const PSID: &str = "7000000000000042";
const WAIT: Duration = Duration::from_secs(5);

fn menu() -> Reply {
    let button = |title: &str, payload: &str| Button {
        title: title.to_string(),
        payload: payload.to_string(),
    };
    Reply {
        text: "How can I help?".to_string(),
        output: None,
        buttons: vec![button("Setup VPN", "SetupVPN"), button("Help", "Help")],
    }
}

/// A delivered reply reaches Graph as one message with its quick replies.
#[tokio::test]
async fn a_reply_with_buttons_arrives_as_text_and_quick_replies() {
    let graph = GraphStandIn::start().await;
    let api = SendApi::new(graph.url(), "page-token".to_string());

    api.deliver(&format!("messenger:{PSID}"), &menu()).await;

    let got = graph.wait_for_messages(PSID, 1, WAIT).await;
    assert_eq!(got[0]["text"], "How can I help?");
    assert_eq!(got[0]["quick_replies"][0]["payload"], "SetupVPN");
    assert_eq!(got[0]["quick_replies"][1]["title"], "Help");
}

/// Graph being briefly unavailable delays a reply but does not lose it.
#[tokio::test]
async fn a_reply_survives_two_unavailable_answers() {
    let graph = GraphStandIn::start().await;
    graph.fail_next(2, 503);
    let api = SendApi::new(graph.url(), "page-token".to_string());

    api.deliver(&format!("messenger:{PSID}"), &Reply::text("hi"))
        .await;

    let got = graph.wait_for_messages(PSID, 1, WAIT).await;
    assert_eq!(got[0]["text"], "hi");
    assert_eq!(graph.requests().len(), 3);
}
