//! AMQP 0-9-1 publishing (lapin): one connection and one channel in
//! confirm mode; a batch is published in order, then each confirmation is
//! awaited in order, so what the broker confirmed is always a prefix of the
//! batch. Plain `amqp://` only: lapin is built without a TLS feature here, so
//! an `amqps://` URL is refused at connect with a message saying so.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};

use super::Message;
use crate::config::MessagingConfig;
use crate::store::redact_url;

/// How long connecting, and each confirmation, may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// A connection to the broker with a channel in confirm mode.
pub struct Publisher {
    connection: Connection,
    channel: lapin::Channel,
}

impl Publisher {
    /// Connects, opens a channel in confirm mode, and declares the exchange
    /// (a topic exchange, durable) unless it is one of the broker's own
    /// `amq.*` exchanges.
    pub async fn connect(cfg: &MessagingConfig) -> Result<Publisher, String> {
        let url = cfg.url.as_deref().unwrap_or_default();
        let shown = redact_url(url);
        if url.starts_with("amqps://") {
            return Err(format!(
                "{shown}: amqps:// is not supported by this build; use amqp:// (or a TLS tunnel)"
            ));
        }
        let fail = |what: &str, e: &dyn std::fmt::Display| format!("{shown}: {what}: {e}");
        let connection = tokio::time::timeout(
            TIMEOUT,
            Connection::connect(url, ConnectionProperties::default()),
        )
        .await
        .map_err(|_| fail("connect", &format!("no answer in {TIMEOUT:?}")))?
        .map_err(|e| fail("connect", &e))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| fail("open a channel", &e))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| fail("confirm mode", &e))?;
        if !cfg.exchange.starts_with("amq.") {
            channel
                .exchange_declare(
                    cfg.exchange.as_str().into(),
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        durable: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(|e| fail(&format!("declare exchange {}", cfg.exchange), &e))?;
        }
        tracing::info!("messaging: connected to {shown}");
        Ok(Publisher {
            connection,
            channel,
        })
    }

    /// Publishes `messages` to `exchange`: how many, from the first, the
    /// broker confirmed, and why it stopped short, if it did.
    pub async fn publish(&self, exchange: &str, messages: &[Message]) -> (usize, Option<String>) {
        let mut pending = Vec::with_capacity(messages.len());
        let mut error = None;
        for m in messages {
            match self
                .channel
                .basic_publish(
                    exchange.into(),
                    m.routing_key.as_str().into(),
                    BasicPublishOptions::default(),
                    &m.body,
                    properties(m),
                )
                .await
            {
                Ok(confirm) => pending.push(confirm),
                Err(e) => {
                    error = Some(format!("publish: {e}"));
                    break;
                }
            }
        }
        let mut confirmed = 0;
        for confirm in pending {
            match tokio::time::timeout(TIMEOUT, confirm).await {
                Ok(Ok(c)) if c.is_ack() => confirmed += 1,
                Ok(Ok(_)) => {
                    error = Some("the broker refused the message (nack)".into());
                    break;
                }
                Ok(Err(e)) => {
                    error = Some(format!("confirmation: {e}"));
                    break;
                }
                Err(_) => {
                    error = Some(format!("no confirmation in {TIMEOUT:?}"));
                    break;
                }
            }
        }
        (confirmed, error)
    }

    /// Closes the connection (on shutdown).
    pub async fn close(self) {
        let _ = self.channel.close(200, "bye".into()).await;
        let _ = self.connection.close(200, "bye".into()).await;
    }
}

/// The properties and headers fedora-messaging's own publisher sets
/// (fedora_messaging/message.py `_build_properties`), strings as long
/// strings and integers as 32-bit ints, the types its consumer decodes.
fn properties(m: &Message) -> BasicProperties {
    let mut headers = FieldTable::default();
    let text = |s: &str| AMQPValue::LongString(s.into());
    headers.insert("fedora_messaging_schema".into(), text("base.message"));
    headers.insert(
        "fedora_messaging_schema_package".into(),
        text("fedora_messaging"),
    );
    headers.insert("fedora_messaging_severity".into(), AMQPValue::LongInt(20));
    headers.insert("priority".into(), AMQPValue::LongInt(0));
    headers.insert("sent-at".into(), text(&m.sent_at));
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_content_encoding("utf-8".into())
        .with_delivery_mode(2)
        .with_priority(0)
        .with_message_id(m.id.as_str().into())
        .with_headers(headers)
}
