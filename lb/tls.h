/*
 * tls.h - TLS termination for a listener: one SSL_CTX per certificate, the
 * one for the client's SNI name chosen in the servername callback (exact
 * names first, then "*." wildcards from the certificate's subjectAltName or,
 * failing that, its CN), the listener's first certificate otherwise.
 * TLS 1.2 and 1.3 only; ALPN offers http/1.1 alone.
 */
#ifndef ORCH_LB_TLS_H
#define ORCH_LB_TLS_H

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "common/error.h"

struct lb_tls;

/*
 * Load the listener's certificates and keys (read from their files now).
 * The result holds one reference; every SSL made from it holds another
 * until it is freed, so a reload can drop the listener's reference while
 * handshakes and connections made from it carry on.  previous, the
 * listener's context before a reload (or NULL), passes on its session
 * ticket keys, so clients resume across the reload.  Any thread.
 */
struct lb_tls *lb_tls_new(const struct lb_listener_conf *listener, const struct lb_tls *previous,
			  orch_error *err);
void lb_tls_ref(struct lb_tls *tls);
void lb_tls_unref(struct lb_tls *tls);

/* A server-side TLS bufferevent for an accepted socket (NULL on failure; fd closed). */
struct bufferevent *lb_tls_wrap(struct lb_tls *tls, struct event_base *base, evutil_socket_t fd);

#endif
