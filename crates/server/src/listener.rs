//! Accepting RESP connections, under the client limit.

use crate::connection;
use crate::node::Node;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Redis's reply when `maxclients` is reached.
const MAX_CLIENTS_REPLY: &[u8] = b"-ERR max number of clients reached\r\n";

pub async fn accept_loop(node: Arc<Node>, listener: TcpListener) {
    let slots = Arc::new(Semaphore::new(node.config.max_clients));
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        node.stats.connections_total.fetch_add(1, Relaxed);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            node.stats.connections_rejected.fetch_add(1, Relaxed);
            tokio::spawn(async move {
                let _ = stream.write_all(MAX_CLIENTS_REPLY).await;
            });
            continue;
        };
        let node = node.clone();
        tokio::spawn(async move {
            let local = stream.local_addr().ok();
            let client = node.clients.register(Some(peer), local);
            node.stats.connected.fetch_add(1, Relaxed);
            connection::serve(&node, stream, client.clone()).await;
            node.stats.connected.fetch_sub(1, Relaxed);
            node.clients.unregister(client.id);
            drop(slot);
        });
    }
}
