//! The console's guard, a Durable Object (one instance, strongly consistent): the ids of live
//! sessions, so signing out ends a session everywhere at once, and each client's recent wrong
//! passwords, so the limit holds across isolates. It keeps one text value; every decision is
//! the core's (`facteur_core::operator::guard`); its client is `crate::adapters::console_guard`.

use worker::{durable_object, Env, Request, Response, Result, State};

use crate::adapters::journal::flush_costs;
use crate::adapters::ledger::{Invocation, Rows};
use crate::adapters::net::now_ms;
use facteur_core::operator::guard::{Book, GuardCall};

/// The storage key of the book.
const BOOK_KEY: &str = "book";

/// Sessions and wrong-password counters.
#[durable_object(fetch)]
pub struct ConsoleGuard {
    state: State,
    env: Env,
}

impl worker::DurableObject for ConsoleGuard {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let invocation = Invocation::begin(false);
        let resp: Result<Response> = async {
            let Some(call) = GuardCall::decode(&req.text().await?) else {
                return Response::error("unknown guard call", 400);
            };
            let storage = Rows(self.state.storage());
            let mut book = Book::parse(&storage.get::<String>(BOOK_KEY).await?.unwrap_or_default());
            let ok = book.apply(&call, now_ms());
            if !matches!(call, GuardCall::Check { .. }) {
                storage.put(BOOK_KEY, book.to_text()).await?;
            }
            Response::ok(if ok { "1" } else { "0" })
        }
        .await;
        invocation.close("object guard (call)");
        flush_costs(&self.state, &self.env);
        resp
    }
}
