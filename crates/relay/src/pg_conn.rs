//! A PostgreSQL connection with its prepared statements: each statement is parsed and planned
//! once per connection, then every call is a single round trip (bind and execute) instead of
//! two (prepare, then execute), which halves the work of both the relay and the database.
//! A statement is found in a connection's cache by its place, not by hashing its text.

use std::sync::{Mutex, PoisonError};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Error, Row, Statement};

/// A statement of the store, written once: its text, and its place in every connection's
/// cache (each of a store's statements has a place of its own).
pub(crate) struct Sql {
    slot: usize,
    text: String,
}

impl Sql {
    pub(crate) fn new(slot: usize, text: String) -> Self {
        Sql { slot, text }
    }
}

/// A client and the statements prepared on it.
pub(crate) struct Conn {
    client: Client,
    prepared: Mutex<Vec<Option<Statement>>>,
}

impl Conn {
    pub(crate) fn new(client: Client) -> Self {
        Conn { client, prepared: Mutex::new(Vec::new()) }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    async fn statement(&self, sql: &Sql) -> Result<Statement, Error> {
        let known = self.prepared.lock().unwrap_or_else(PoisonError::into_inner).get(sql.slot).cloned().flatten();
        if let Some(s) = known {
            return Ok(s);
        }
        let s = self.client.prepare(&sql.text).await?;
        let mut prepared = self.prepared.lock().unwrap_or_else(PoisonError::into_inner);
        if prepared.len() <= sql.slot {
            prepared.resize(sql.slot + 1, None);
        }
        if let Some(place) = prepared.get_mut(sql.slot) {
            *place = Some(s.clone());
        }
        Ok(s)
    }

    pub(crate) async fn query(&self, sql: &Sql, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        self.client.query(&self.statement(sql).await?, params).await
    }

    pub(crate) async fn query_one(&self, sql: &Sql, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Error> {
        self.client.query_one(&self.statement(sql).await?, params).await
    }

    pub(crate) async fn query_opt(&self, sql: &Sql, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, Error> {
        self.client.query_opt(&self.statement(sql).await?, params).await
    }

    pub(crate) async fn execute(&self, sql: &Sql, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        self.client.execute(&self.statement(sql).await?, params).await
    }
}
