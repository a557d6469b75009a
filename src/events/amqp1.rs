//! AMQP 1.0 publishing (fe2o3-amqp), the original's UMB (ActiveMQ) backend:
//! one connection, session and sender link to a topic address
//! (`[messaging] address`, `{topic}` standing for the routing key; RabbitMQ's
//! AMQP 1.0 plugin takes `/topic/<key>` to amq.topic, ActiveMQ
//! `topic://<name>`). Each message is sent unsettled and its outcome awaited
//! in order, so what the broker accepted is always a prefix of the batch, as
//! with AMQP 0-9-1.
//!
//! The message: a durable header, properties `message-id`, `content-type`
//! `application/json`, `content-encoding` `utf-8`, `subject` (the topic),
//! application properties carrying the fedora-messaging headers, and the
//! JSON as one Data section (the original sent a string value; a Data
//! section is what a RabbitMQ AMQP 0-9-1 consumer, fedora-messaging's among
//! them, reads as the plain body). Plain `amqp://` only, as the 0-9-1
//! backend.

use fe2o3_amqp::types::messaging::{
    ApplicationProperties, Header, Message as Amqp1Message, Outcome, Properties,
};
use fe2o3_amqp::{Connection, Sender, Session};

use super::Message;
use crate::config::MessagingConfig;
use crate::store::redact_url;

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// A sender link to the topic address.
pub struct Publisher {
    connection: fe2o3_amqp::connection::ConnectionHandle<()>,
    session: fe2o3_amqp::session::SessionHandle<()>,
    sender: Sender,
    address: String,
}

/// The address of `routing_key` (`{topic}` replaced).
pub fn address(template: &str, routing_key: &str) -> String {
    template.replace("{topic}", routing_key)
}

impl Publisher {
    /// Connects (SASL PLAIN with the URL's user and password) and attaches
    /// a sender to the address of `routing_key`.
    pub async fn connect(cfg: &MessagingConfig, routing_key: &str) -> Result<Publisher, String> {
        let url = cfg.url.as_deref().unwrap_or_default();
        let shown = redact_url(url);
        if !url.starts_with("amqp://") {
            return Err(format!(
                "{shown}: only amqp:// URLs are supported by the amqp1 backend"
            ));
        }
        // the 0-9-1 form of the default vhost means nothing here
        let url = url.trim_end_matches("/%2F").trim_end_matches("/%2f");
        let fail = |what: &str, e: &dyn std::fmt::Display| format!("{shown}: {what}: {e}");
        let mut connection = tokio::time::timeout(
            TIMEOUT,
            Connection::open(format!("odcs-{}", std::process::id()), url),
        )
        .await
        .map_err(|_| fail("connect", &format!("no answer in {TIMEOUT:?}")))?
        .map_err(|e| fail("connect", &e))?;
        let mut session = Session::begin(&mut connection)
            .await
            .map_err(|e| fail("begin a session", &e))?;
        let address = address(&cfg.address, routing_key);
        let sender = Sender::attach(&mut session, "odcs-state-changes", address.as_str())
            .await
            .map_err(|e| fail(&format!("attach a sender to {address}"), &e))?;
        tracing::info!("messaging: AMQP 1.0 sender to {address} on {shown}");
        Ok(Publisher {
            connection,
            session,
            sender,
            address,
        })
    }

    /// Sends `messages` in order: how many the broker accepted, and why it
    /// stopped short, if it did.
    pub async fn publish(&mut self, messages: &[Message]) -> (usize, Option<String>) {
        for (n, m) in messages.iter().enumerate() {
            let message = Amqp1Message::builder()
                .header(Header::builder().durable(true).build())
                .properties(
                    Properties::builder()
                        .message_id(m.id.clone())
                        .content_type("application/json")
                        .content_encoding("utf-8")
                        .subject(m.routing_key.clone())
                        .build(),
                )
                .application_properties(
                    ApplicationProperties::builder()
                        .insert("fedora_messaging_schema", "base.message")
                        .insert("fedora_messaging_schema_package", "fedora_messaging")
                        .insert("fedora_messaging_severity", 20i32)
                        .insert("priority", 0i32)
                        .insert("sent-at", m.sent_at.as_str())
                        .build(),
                )
                .data(m.body.clone())
                .build();
            match tokio::time::timeout(TIMEOUT, self.sender.send(message)).await {
                Ok(Ok(Outcome::Accepted(_))) => {}
                Ok(Ok(other)) => {
                    return (
                        n,
                        Some(format!("{}: the broker answered {other:?}", self.address)),
                    );
                }
                Ok(Err(e)) => return (n, Some(format!("{}: {e}", self.address))),
                Err(_) => {
                    return (
                        n,
                        Some(format!("{}: no outcome in {TIMEOUT:?}", self.address)),
                    );
                }
            }
        }
        (messages.len(), None)
    }

    /// Detaches, ends the session and closes the connection (on shutdown).
    pub async fn close(mut self) {
        let _ = self.sender.close().await;
        let _ = self.session.end().await;
        let _ = self.connection.close().await;
    }
}
