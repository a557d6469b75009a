//! Composes requested by bus events (#17): the decision taken for each
//! consumed message and rule, and what each rule last composed from. A
//! decision to compose is recorded in the transaction that inserts the
//! compose and queues its job, and the pair (message id, rule) is unique, so
//! a message delivered again finds its decision and makes no second compose,
//! whatever happened between the two deliveries.

use tracing::instrument;

use super::composes::{insert_compose, queue_job};
use super::{
    ComposeRow, JobKind, NewCompose, Store, StoreError, Timestamp, db, transaction, with_pool,
};

/// What a rule decided for a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventDecision {
    pub message_id: String,
    pub rule: String,
    /// `composed`, `unchanged` or `refused`.
    pub decision: String,
    pub reason: String,
    /// The rule's input as resolved now (recorded as the rule's last input
    /// when it composes).
    pub input_digest: String,
}

/// What recording a decision did.
#[derive(Clone, Debug, PartialEq)]
pub enum Recorded {
    /// Recorded; the compose made, for a decision to compose.
    New(Option<Box<ComposeRow>>),
    /// This message was decided on before for this rule: nothing recorded.
    Duplicate {
        decision: String,
        compose_id: Option<i64>,
    },
}

impl Store {
    /// The decision already taken for (message, rule), and its compose.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn event_decision(
        &self,
        message_id: &str,
        rule: &str,
    ) -> Result<Option<(String, Option<i64>)>, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query_as::<_, (String, Option<i64>)>(
                "SELECT decision, compose_id FROM event_decisions WHERE message_id = $1 AND rule = $2",
            )
            .bind(message_id)
            .bind(rule)
            .fetch_optional(pool)
            .await
            .map_err(db("read an event decision"))
        })
    }

    /// The input a rule last composed from.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn rule_input(&self, rule: &str) -> Result<Option<String>, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query_as::<_, (String,)>("SELECT input_digest FROM event_rules WHERE name = $1")
                .bind(rule)
                .fetch_optional(pool)
                .await
                .map(|r| r.map(|r| r.0))
                .map_err(db("read an event rule"))
        })
    }

    /// Records `d`; with `compose`, inserts it and queues its job and makes
    /// `d.input_digest` the rule's last input, all in one transaction.
    #[instrument(skip(self, compose), err(level = "debug"))]
    pub async fn record_event_decision(
        &self,
        d: &EventDecision,
        compose: Option<&NewCompose>,
    ) -> Result<Recorded, StoreError> {
        let now = Timestamp::now();
        let recorded = transaction!(self, |tx| {
            let inserted = sqlx::query(
                "INSERT INTO event_decisions \
                 (message_id, rule, decision, compose_id, reason, time_decided) \
                 VALUES ($1, $2, $3, NULL, $4, $5) ON CONFLICT (message_id, rule) DO NOTHING",
            )
            .bind(&d.message_id)
            .bind(&d.rule)
            .bind(&d.decision)
            .bind(&d.reason)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db("record an event decision"))?
            .rows_affected();
            if inserted == 0 {
                return Ok(None);
            }
            let Some(new) = compose else {
                return Ok(Some(None));
            };
            let row = insert_compose!(tx, new, now);
            queue_job!(tx, row.id, JobKind::Generate, now);
            sqlx::query(
                "UPDATE event_decisions SET compose_id = $3 WHERE message_id = $1 AND rule = $2",
            )
            .bind(&d.message_id)
            .bind(&d.rule)
            .bind(row.id)
            .execute(&mut *tx)
            .await
            .map_err(db("record an event's compose"))?;
            sqlx::query(
                "INSERT INTO event_rules (name, input_digest, compose_id, time_changed) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE \
                 SET input_digest = $2, compose_id = $3, time_changed = $4",
            )
            .bind(&d.rule)
            .bind(&d.input_digest)
            .bind(row.id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db("record an event rule's input"))?;
            Ok(Some(Some(Box::new(row))))
        })?;
        match recorded {
            Some(row) => {
                if row.is_some() {
                    self.tell_state_changed();
                }
                Ok(Recorded::New(row))
            }
            None => {
                let (decision, compose_id) = self
                    .event_decision(&d.message_id, &d.rule)
                    .await?
                    .unwrap_or_default();
                Ok(Recorded::Duplicate {
                    decision,
                    compose_id,
                })
            }
        }
    }
}
