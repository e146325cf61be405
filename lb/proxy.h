/*
 * proxy.h - one client connection through its life: read a request head,
 * route it, pick a target, stream the request to it and the response back,
 * keep the connection alive for the next request, or tunnel a WebSocket.
 */
#ifndef ORCH_LB_PROXY_H
#define ORCH_LB_PROXY_H

#include "conn.h"
#include "lb-t.h"

/*
 * Take over an accepted connection: conn is the client's connection on
 * worker's base, TLS or plain as tls says, accepted on local_port.  On
 * failure the connection is freed.
 */
void proxy_client_start(struct lb_worker *worker, struct lb_conn *conn, bool tls, int local_port,
			const struct sockaddr *peer, int peer_len);

/* Periodic: abort requests to targets whose deregistration delay ran out. */
void proxy_sweep(struct lb_worker *worker);

/*
 * Graceful stop: close connections waiting for a request; the others close
 * after the response in flight (which says Connection: close if not yet sent).
 */
void proxy_drain(struct lb_worker *worker);

/* Close every client of the worker (shutdown, after its loop stopped). */
void proxy_close_all(struct lb_worker *worker);

#endif
