/*
 * pki.h - the cluster's small PKI: the CA, the server certificate, the TLS
 * contexts built from them and the join token that carries the CA's hash.
 *
 * On first start the server creates <data>/pki/:
 *   ca.pem ca.key          EC P-256 CA, PKI_CA_DAYS (key 0600)
 *   server.pem server.key  EC P-256 server certificate signed by the CA,
 *                          PKI_SERVER_DAYS, SANs: the hostname, localhost,
 *                          127.0.0.1, ::1, every --advertise value and every
 *                          non-loopback address of the host; re-issued when
 *                          that set changes, when it expires within
 *                          PKI_RENEW_BEFORE_DAYS, or when the CA changed.
 * and <data>/join-token (0600, one line):
 *   K10<sha256 hex of the CA certificate's DER>::<64 hex secret>
 *
 * The join token's format is the contract of agent_protocol.h: the control
 * plane's POST /v1/agent/register checks the presented secret with
 * pki_join_secret_matches(<content of join-token>, presented) (the agent
 * sends the secret after "::" as its bearer token; the whole token is
 * accepted as well).  Only OpenSSL 3 EVP APIs are used.
 */
#ifndef ORCH_PKI_H
#define ORCH_PKI_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "common/error.h"

#define PKI_DIR "pki"
#define PKI_CA_CERT_FILE "ca.pem"
#define PKI_CA_KEY_FILE "ca.key"
#define PKI_SERVER_CERT_FILE "server.pem"
#define PKI_SERVER_KEY_FILE "server.key"
#define PKI_JOIN_TOKEN_FILE "join-token"

#define PKI_CA_DAYS 3650
#define PKI_SERVER_DAYS 365
#define PKI_RENEW_BEFORE_DAYS 30
#define PKI_MAX_SANS 64
#define PKI_SHA256_HEX_LEN 64
#define PKI_JOIN_SECRET_BYTES 32
/* "K10" + 64 hex + "::" + 64 hex */
#define PKI_JOIN_TOKEN_MAX 160
/* Largest CA PEM an agent accepts from GET /v1/agent/ca. */
#define PKI_CA_PEM_MAX (64 * 1024)

/* TLS 1.2 suites (1.3 uses OpenSSL's defaults, all AEAD). */
#define PKI_TLS12_CIPHERS "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-RSA-CHACHA20-POLY1305"

/*
 * Creates or refreshes <data_dir>/pki as described above.  extra_names are
 * --advertise values (IP addresses or DNS names) and the listen host; the
 * loopback names and the host's own addresses are always included.
 */
int pki_ensure(const char *data_dir, const char *const *extra_names, size_t extra_count,
	       orch_error *err);

/* A server TLS context (TLS 1.2+) with <data>/pki/server.{pem,key}. */
SSL_CTX *pki_server_tls_context(const char *data_dir, orch_error *err);

/*
 * SHA-256 (lower-case hex) of the DER of the first certificate in pem.  For
 * the server's own files only: a CA received from the network goes through
 * pki_ca_pem_canonical.
 */
int pki_cert_pem_sha256(const char *pem, size_t len, char out[PKI_SHA256_HEX_LEN + 1],
			orch_error *err);

/*
 * The CA an agent pins, from bytes it does not trust yet (GET /v1/agent/ca,
 * or its own DIR/ca.pem).  pem must be exactly one PEM "CERTIFICATE" block:
 * only whitespace before and after it, no PEM headers, and a DER that is one
 * certificate with no bytes after it.  A second certificate, a private key
 * or any trailing data is ORCH_ERR_INVALID, so a man in the middle cannot
 * slip a CA of his own in beside the real one.  On success *canonical_out
 * (a new string) is the certificate written again from the parsed X509 --
 * what the agent stores and trusts -- and sha256_out the SHA-256 of exactly
 * that certificate's DER, which the caller compares with the join token.
 */
int pki_ca_pem_canonical(const char *pem, size_t len, char **canonical_out,
			 char sha256_out[PKI_SHA256_HEX_LEN + 1], orch_error *err);

/* Path of a file in <data>/pki (a new string). */
char *pki_path(const char *data_dir, const char *file);

/*
 * Reads <data>/join-token, or creates it (with the CA's hash and a new
 * secret) if absent or if it names another CA.  out: PKI_JOIN_TOKEN_MAX.
 */
int pki_join_token_load_or_create(const char *data_dir, char out[PKI_JOIN_TOKEN_MAX],
				  orch_error *err);

/*
 * Splits a join token into the CA hash and the secret.  ORCH_ERR_INVALID
 * with a message a user can act on if it is malformed.
 */
int pki_join_token_parse(const char *token, char ca_sha256[PKI_SHA256_HEX_LEN + 1],
			 char *secret, size_t secret_size, orch_error *err);

/*
 * True if presented (a bare secret, a whole join token, or an
 * Authorization header value "Bearer ...") carries join_token's secret.
 * Constant time in the secret's content.
 */
bool pki_join_secret_matches(const char *join_token, const char *presented);

#endif
