//! The benchmark floor: what any durable exactly-once ingest must do on this platform. The
//! request body is keyed by a cheap hash; one of 256 Durable Objects checks the key in its
//! storage, sends the body to a queue, writes the key, and answers. Nothing else: no auth, no
//! validation, no configuration.
use worker::{
    durable_object, event, Context, DurableObject, Env, MessageBatch, MessageBuilder,
    QueueContentType, Request, RequestInit, Response, Result, State,
};

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let body = req.text().await?;
    let key = format!("{:016x}", fnv1a(body.as_bytes()));
    let stub = env
        .durable_object("FLOOR_DEDUP")?
        .id_from_name(&key[..2])?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(worker::Method::Post).with_body(Some(
        serde_json::json!({"key": key, "body": body})
            .to_string()
            .into(),
    ));
    let req = Request::new_with_init("https://floor.internal/accept", &init)?;
    let mut resp = stub.fetch_with_request(req).await?;
    Response::ok(resp.text().await?)
}

#[event(queue)]
async fn queue(batch: MessageBatch<serde_json::Value>, _env: Env, _ctx: Context) -> Result<()> {
    batch.ack_all();
    Ok(())
}

/// One shard of markers.
#[durable_object]
pub struct FloorDedup {
    state: State,
    env: Env,
}

impl DurableObject for FloorDedup {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let call: serde_json::Value = req.json().await?;
        let key = call["key"].as_str().unwrap_or_default().to_string();
        let storage = self.state.storage();
        if storage.get::<bool>(&key).await?.is_some() {
            return Response::ok("duplicate");
        }
        let body = call["body"].as_str().unwrap_or_default().to_string();
        self.env
            .queue("FLOOR_QUEUE")?
            .send(
                MessageBuilder::new(body)
                    .content_type(QueueContentType::Text)
                    .build(),
            )
            .await?;
        storage.put(&key, true).await?;
        Response::ok("queued")
    }
}
