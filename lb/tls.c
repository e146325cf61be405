/*
 * tls.c - listener TLS contexts and SNI selection over OpenSSL.
 */
#include "tls.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/log.h"

struct lb_tls_cert {
	SSL_CTX *ctx;
	size_t name_count;
	char **names;			/* lower case; "*.example.com" kept as written */
};

struct lb_tls {
	_Atomic long refs;		/* the listener's, and one per SSL made from it */
	size_t cert_count;
	struct lb_tls_cert *certs;	/* [0] is the default */
};

static void add_name(struct lb_tls_cert *cert, const char *name, size_t n)
{
	char *copy = malloc(n + 1);

	if (!copy)
		return;
	for (size_t i = 0; i < n; i++)
		copy[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] | 0x20 : name[i]);
	copy[n] = '\0';
	cert->names = realloc(cert->names, (cert->name_count + 1) * sizeof(*cert->names));
	cert->names[cert->name_count++] = copy;
}

static void collect_names(struct lb_tls_cert *cert, X509 *x509)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(x509, NID_subject_alt_name, NULL, NULL);

	if (sans) {
		for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
			const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);

			if (gn->type == GEN_DNS)
				add_name(cert, (const char *)ASN1_STRING_get0_data(gn->d.dNSName),
					 (size_t)ASN1_STRING_length(gn->d.dNSName));
		}
		GENERAL_NAMES_free(sans);
	}
	if (cert->name_count == 0) {
		char cn[256];
		int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x509), NID_commonName, cn,
						  sizeof(cn));

		if (n > 0)
			add_name(cert, cn, (size_t)n);
	}
}

static bool name_matches(const char *pattern, const char *host)
{
	if (strncmp(pattern, "*.", 2) == 0) {
		/* One label: "*.example.com" matches "a.example.com" only. */
		const char *dot = strchr(host, '.');

		return dot && dot != host && strcasecmp(dot, pattern + 1) == 0;
	}
	return strcasecmp(pattern, host) == 0;
}

static int servername_cb(SSL *ssl, int *alert, void *arg)
{
	struct lb_tls *tls = arg;
	const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	if (!host)
		return SSL_TLSEXT_ERR_OK;
	/* Exact names win over wildcards. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < tls->cert_count; i++) {
			struct lb_tls_cert *cert = &tls->certs[i];

			for (size_t j = 0; j < cert->name_count; j++) {
				bool wildcard = strncmp(cert->names[j], "*.", 2) == 0;

				if (wildcard != (pass == 1) || !name_matches(cert->names[j], host))
					continue;
				if (SSL_get_SSL_CTX(ssl) != cert->ctx)
					SSL_set_SSL_CTX(ssl, cert->ctx);
				return SSL_TLSEXT_ERR_OK;
			}
		}
	}
	return SSL_TLSEXT_ERR_OK;	/* unknown name: the default certificate */
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char http11[] = "\x08http/1.1";
	unsigned char *selected;

	if (SSL_select_next_proto(&selected, outlen, http11, sizeof(http11) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = selected;
	return SSL_TLSEXT_ERR_OK;
}

/*
 * Each SSL holds a reference to the lb_tls it was made from, in its ex_data:
 * its handshake may still call servername_cb with it after a reload has
 * dropped the listener's reference.  OpenSSL releases it in SSL_free.
 */
static int ssl_ref_index = -1;
static pthread_once_t ssl_ref_once = PTHREAD_ONCE_INIT;

static void ssl_ref_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			 void *argp)
{
	lb_tls_unref(ptr);
}

static void ssl_ref_init(void)
{
	ssl_ref_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, ssl_ref_free);
}

static int ssl_fail(orch_error *err, const char *what, const char *file)
{
	char buf[256];
	unsigned long code = ERR_get_error();

	ERR_error_string_n(code, buf, sizeof(buf));
	ERR_clear_error();
	return orch_fail(err, ORCH_ERR_INVALID, "%s \"%s\": %s", what, file, buf);
}

/* OpenSSL's session ticket keys: name, HMAC secret and AES key. */
#define LB_TLS_TICKET_KEYS_BYTES 80

struct lb_tls *lb_tls_new(const struct lb_listener_conf *listener, const struct lb_tls *previous,
			  orch_error *err)
{
	unsigned char ticket_keys[LB_TLS_TICKET_KEYS_BYTES];
	bool keep_tickets = false;
	struct lb_tls *tls;

	pthread_once(&ssl_ref_once, ssl_ref_init);
	if (ssl_ref_index < 0) {
		orch_fail(err, ORCH_ERR_INTERNAL, "cannot reserve SSL ex_data");
		return NULL;
	}
	tls = calloc(1, sizeof(*tls));
	if (!tls) {
		orch_fail_errno(err, ENOMEM, "tls");
		return NULL;
	}
	atomic_init(&tls->refs, 1);
	tls->certs = calloc(listener->certificate_count, sizeof(*tls->certs));
	if (!tls->certs) {
		orch_fail_errno(err, ENOMEM, "tls");
		goto fail;
	}
	tls->cert_count = listener->certificate_count;
	/* Tickets issued before a reload still resume: the session context's keys carry over. */
	if (previous && previous->cert_count > 0)
		keep_tickets = SSL_CTX_get_tlsext_ticket_keys(previous->certs[0].ctx, ticket_keys,
							       sizeof(ticket_keys)) == 1;
	for (size_t i = 0; i < listener->certificate_count; i++) {
		const struct lb_certificate_conf *conf = &listener->certificates[i];
		struct lb_tls_cert *cert = &tls->certs[i];
		SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

		if (!ctx) {
			ssl_fail(err, "SSL_CTX_new for", conf->cert_file);
			goto fail;
		}
		cert->ctx = ctx;
		SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
		SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
		SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
		if (SSL_CTX_use_certificate_chain_file(ctx, conf->cert_file) != 1) {
			ssl_fail(err, "certificate", conf->cert_file);
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, conf->key_file, SSL_FILETYPE_PEM) != 1) {
			ssl_fail(err, "private key", conf->key_file);
			goto fail;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			ssl_fail(err, "private key does not match certificate", conf->cert_file);
			goto fail;
		}
		collect_names(cert, SSL_CTX_get0_certificate(ctx));
		SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
		SSL_CTX_set_tlsext_servername_arg(ctx, tls);
		SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
		if (keep_tickets &&
		    SSL_CTX_set_tlsext_ticket_keys(ctx, ticket_keys, sizeof(ticket_keys)) != 1)
			ERR_clear_error();	/* fresh keys: old tickets mean full handshakes */
	}
	OPENSSL_cleanse(ticket_keys, sizeof(ticket_keys));
	return tls;
fail:
	OPENSSL_cleanse(ticket_keys, sizeof(ticket_keys));
	orch_error_prefix(err, "listener \"%s\"", listener->address);
	lb_tls_unref(tls);
	return NULL;
}

void lb_tls_ref(struct lb_tls *tls)
{
	atomic_fetch_add_explicit(&tls->refs, 1, memory_order_relaxed);
}

void lb_tls_unref(struct lb_tls *tls)
{
	if (!tls || atomic_fetch_sub_explicit(&tls->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < tls->cert_count; i++) {
		SSL_CTX_free(tls->certs[i].ctx);
		for (size_t j = 0; j < tls->certs[i].name_count; j++)
			free(tls->certs[i].names[j]);
		free(tls->certs[i].names);
	}
	free(tls->certs);
	free(tls);
}

struct bufferevent *lb_tls_wrap(struct lb_tls *tls, struct event_base *base, evutil_socket_t fd)
{
	SSL *ssl = SSL_new(tls->certs[0].ctx);
	struct bufferevent *bev;

	if (!ssl) {
		close(fd);
		return NULL;
	}
	lb_tls_ref(tls);
	if (SSL_set_ex_data(ssl, ssl_ref_index, tls) != 1) {
		lb_tls_unref(tls);
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		/* libevent freed the SSL (CLOSE_ON_FREE); its socket BIO leaves fd open. */
		close(fd);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}
