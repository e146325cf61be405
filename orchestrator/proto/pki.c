/*
 * pki.c - the cluster CA, the server certificate, TLS contexts and the join
 * token.  See pki.h.
 *
 * Certificates are built with X509_* and the v3 extension config strings
 * (X509V3_EXT_conf_nid), keys with EVP_EC_gen.  Every file is written with
 * fs_write_file_atomic (temp file, fsync, rename), keys with mode 0600, so a
 * crash mid-way leaves the old set or the new one.
 */
#include "pki.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "agent_protocol.h"
#include "common/cleanup.h"
#include "common/fs_util.h"
#include "common/log.h"

#define PKI_SERIAL_BYTES 16

static int ssl_fail(orch_error *err, const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return orch_fail(err, ORCH_ERR_INTERNAL, "%s: %s", what, e ? buf : "OpenSSL error");
}

char *pki_path(const char *data_dir, const char *file)
{
	char *path;

	if (asprintf(&path, "%s/" PKI_DIR "/%s", data_dir, file) < 0)
		return NULL;
	return path;
}

/* ---- reading and writing PEM ----------------------------------------------- */

static X509 *cert_read(const char *path)
{
	BIO *bio = BIO_new_file(path, "r");
	X509 *x;

	if (!bio)
		return NULL;
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	return x;
}

static EVP_PKEY *key_read(const char *path)
{
	BIO *bio = BIO_new_file(path, "r");
	EVP_PKEY *k;

	if (!bio)
		return NULL;
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	return k;
}

/* Writes what write_fn put into a memory BIO to path, atomically. */
static int bio_to_file(BIO *bio, const char *path, mode_t mode, orch_error *err)
{
	char *data;
	long len = BIO_get_mem_data(bio, &data);

	if (len <= 0)
		return orch_fail(err, ORCH_ERR_INTERNAL, "encoding '%s'", path);
	return fs_write_file_atomic(path, data, (size_t)len, mode, err);
}

static int cert_write(X509 *x, const char *path, orch_error *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int rc;

	if (!bio || PEM_write_bio_X509(bio, x) != 1) {
		BIO_free(bio);
		return ssl_fail(err, "encoding a certificate");
	}
	rc = bio_to_file(bio, path, 0644, err);
	BIO_free(bio);
	return rc;
}

static int key_write(EVP_PKEY *k, const char *path, orch_error *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int rc;

	if (!bio || PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(bio);
		return ssl_fail(err, "encoding a private key");
	}
	rc = bio_to_file(bio, path, 0600, err);
	BIO_free(bio);
	return rc;
}

/* ---- building certificates ------------------------------------------------- */

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value, orch_error *err)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return ssl_fail(err, "building a certificate extension");
	if (X509_add_ext(cert, ext, -1) != 1) {
		X509_EXTENSION_free(ext);
		return ssl_fail(err, "adding a certificate extension");
	}
	X509_EXTENSION_free(ext);
	return 0;
}

/*
 * A new certificate for key, signed by issuer_key (self-signed when issuer
 * is NULL).  san is the subjectAltName config string or NULL (a CA).
 */
static X509 *cert_build(EVP_PKEY *key, const char *cn, int days, X509 *issuer,
			EVP_PKEY *issuer_key, const char *san, orch_error *err)
{
	unsigned char serial[PKI_SERIAL_BYTES];
	X509 *x = X509_new();
	BIGNUM *bn = NULL;
	X509_NAME *name;
	bool ca = issuer == NULL;

	if (!x || RAND_bytes(serial, sizeof(serial)) != 1)
		goto ssl_error;
	serial[0] &= 0x7f;	/* a positive serial */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto ssl_error;
	if (X509_set_version(x, 2) != 1 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) ||
	    X509_set_pubkey(x, key) != 1)
		goto ssl_error;
	name = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"orch",
				       -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn,
				       -1, -1, 0) != 1)
		goto ssl_error;
	if (X509_set_issuer_name(x, ca ? name : X509_get_subject_name(issuer)) != 1)
		goto ssl_error;
	if (ca) {
		if (add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0", err) < 0 ||
		    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign", err) < 0 ||
		    add_ext(x, x, NID_subject_key_identifier, "hash", err) < 0)
			goto fail;
	} else {
		if (add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE", err) < 0 ||
		    add_ext(x, issuer, NID_key_usage, "critical,digitalSignature", err) < 0 ||
		    add_ext(x, issuer, NID_ext_key_usage, "serverAuth", err) < 0 ||
		    add_ext(x, issuer, NID_subject_key_identifier, "hash", err) < 0 ||
		    add_ext(x, issuer, NID_authority_key_identifier, "keyid:always", err) < 0 ||
		    add_ext(x, issuer, NID_subject_alt_name, san, err) < 0)
			goto fail;
	}
	if (X509_sign(x, ca ? key : issuer_key, EVP_sha256()) <= 0)
		goto ssl_error;
	BN_free(bn);
	return x;
ssl_error:
	ssl_fail(err, "building a certificate");
fail:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

/* ---- the server's names ---------------------------------------------------- */

struct san_set {
	char *items[PKI_MAX_SANS];	/* "DNS:name" or "IP:addr", sorted, unique */
	size_t count;
};

static void san_set_release(struct san_set *s)
{
	for (size_t i = 0; i < s->count; i++)
		free(s->items[i]);
	s->count = 0;
}

/* Adds name as an IP (canonical text) or DNS entry. */
static void san_set_add(struct san_set *s, const char *name)
{
	unsigned char bin[sizeof(struct in6_addr)];
	char text[INET6_ADDRSTRLEN + 8], item[300];

	if (!name || !*name || strlen(name) > 253)
		return;
	if (inet_pton(AF_INET, name, bin) == 1) {
		inet_ntop(AF_INET, bin, text, sizeof(text));
		snprintf(item, sizeof(item), "IP:%s", text);
	} else if (inet_pton(AF_INET6, name, bin) == 1) {
		inet_ntop(AF_INET6, bin, text, sizeof(text));
		snprintf(item, sizeof(item), "IP:%s", text);
	} else {
		for (const char *p = name; *p; p++)
			if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') ||
			      ('0' <= *p && *p <= '9') || *p == '-' || *p == '.' || *p == '*'))
				return;	/* not a host name: never put it in a cert */
		snprintf(item, sizeof(item), "DNS:%s", name);
		for (char *p = item + 4; *p; p++)
			if ('A' <= *p && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	}
	for (size_t i = 0; i < s->count; i++)
		if (strcmp(s->items[i], item) == 0)
			return;
	if (s->count >= PKI_MAX_SANS)
		return;
	s->items[s->count] = strdup(item);
	if (s->items[s->count])
		s->count++;
}

static int san_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names the server certificate must carry now. */
static void san_set_wanted(struct san_set *s, const char *const *extra, size_t extra_count)
{
	struct ifaddrs *ifs = NULL;
	char host[256];

	san_set_add(s, "localhost");
	san_set_add(s, "127.0.0.1");
	san_set_add(s, "::1");
	if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		san_set_add(s, host);
	}
	for (size_t i = 0; i < extra_count; i++)
		if (strcmp(extra[i], "0.0.0.0") != 0 && strcmp(extra[i], "::") != 0)
			san_set_add(s, extra[i]);
	if (getifaddrs(&ifs) == 0) {
		for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
			char text[INET6_ADDRSTRLEN];

			if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK))
				continue;
			if (i->ifa_addr->sa_family == AF_INET) {
				inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr,
					  text, sizeof(text));
			} else if (i->ifa_addr->sa_family == AF_INET6) {
				struct in6_addr *a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;

				if (IN6_IS_ADDR_LINKLOCAL(a))
					continue;	/* needs a scope: useless in a URL */
				inet_ntop(AF_INET6, a, text, sizeof(text));
			} else {
				continue;
			}
			san_set_add(s, text);
		}
		freeifaddrs(ifs);
	}
	qsort(s->items, s->count, sizeof(s->items[0]), san_cmp);
}

/* The names a certificate carries, in the same form. */
static void san_set_of_cert(struct san_set *s, X509 *x)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);

	for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		char text[INET6_ADDRSTRLEN];

		if (gn->type == GEN_DNS) {
			const ASN1_IA5STRING *d = gn->d.dNSName;
			char name[256];

			snprintf(name, sizeof(name), "%.*s", ASN1_STRING_length(d),
				 (const char *)ASN1_STRING_get0_data(d));
			san_set_add(s, name);
		} else if (gn->type == GEN_IPADD) {
			const ASN1_OCTET_STRING *ip = gn->d.iPAddress;
			int len = ASN1_STRING_length(ip);

			if (len == 4)
				inet_ntop(AF_INET, ASN1_STRING_get0_data(ip), text, sizeof(text));
			else if (len == 16)
				inet_ntop(AF_INET6, ASN1_STRING_get0_data(ip), text, sizeof(text));
			else
				continue;
			san_set_add(s, text);
		}
	}
	GENERAL_NAMES_free(names);
	qsort(s->items, s->count, sizeof(s->items[0]), san_cmp);
}

static bool san_set_equal(const struct san_set *a, const struct san_set *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (strcmp(a->items[i], b->items[i]) != 0)
			return false;
	return true;
}

/* "DNS:a,IP:1.2.3.4,..." for X509V3_EXT_conf_nid. */
static char *san_set_config(const struct san_set *s)
{
	size_t len = 1;
	char *out;

	for (size_t i = 0; i < s->count; i++)
		len += strlen(s->items[i]) + 1;
	out = calloc(1, len);
	if (!out)
		return NULL;
	for (size_t i = 0; i < s->count; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, s->items[i]);
	}
	return out;
}

/* ---- the CA and the server certificate ----------------------------------- */

static int ca_ensure(const char *data_dir, X509 **ca_out, EVP_PKEY **key_out, orch_error *err)
{
	cleanup_free char *cert_path = pki_path(data_dir, PKI_CA_CERT_FILE);
	cleanup_free char *key_path = pki_path(data_dir, PKI_CA_KEY_FILE);
	X509 *ca;
	EVP_PKEY *key;
	char cn[128];

	if (!cert_path || !key_path)
		return orch_fail_errno(err, ENOMEM, "creating the CA");
	ca = cert_read(cert_path);
	key = key_read(key_path);
	if (ca && key && X509_check_private_key(ca, key) == 1) {
		*ca_out = ca;
		*key_out = key;
		return 0;
	}
	if (ca || key || access(cert_path, F_OK) == 0 || access(key_path, F_OK) == 0) {
		X509_free(ca);
		EVP_PKEY_free(key);
		/* Never silently replace a CA the agents trust. */
		return orch_fail(err, ORCH_ERR_INVALID,
				 "'%s' or '%s' is unreadable or they do not match; remove both to "
				 "create a new CA (every agent must then join again)",
				 cert_path, key_path);
	}
	key = EVP_EC_gen("P-256");
	if (!key)
		return ssl_fail(err, "generating the CA key");
	snprintf(cn, sizeof(cn), "orch cluster CA %08x", (unsigned)time(NULL));
	ca = cert_build(key, cn, PKI_CA_DAYS, NULL, NULL, NULL, err);
	if (!ca || key_write(key, key_path, err) < 0 || cert_write(ca, cert_path, err) < 0) {
		X509_free(ca);
		EVP_PKEY_free(key);
		return orch_error_prefix(err, "creating the CA");
	}
	log_info("pki: created the cluster CA in %s", cert_path);
	*ca_out = ca;
	*key_out = key;
	return 0;
}

/* True if the server certificate on disk is fine for wanted. */
static bool server_cert_current(const char *cert_path, const char *key_path, X509 *ca,
				const struct san_set *wanted)
{
	X509 *x = cert_read(cert_path);
	EVP_PKEY *key = key_read(key_path);
	EVP_PKEY *ca_pub = X509_get0_pubkey(ca);
	struct san_set have = { .count = 0 };
	time_t renew_at = time(NULL) + (time_t)PKI_RENEW_BEFORE_DAYS * 86400;
	bool ok = false;

	if (!x || !key || X509_check_private_key(x, key) != 1)
		goto out;
	if (!ca_pub || X509_verify(x, ca_pub) != 1)
		goto out;	/* issued by another CA */
	if (X509_cmp_time(X509_get0_notAfter(x), &renew_at) <= 0)
		goto out;
	san_set_of_cert(&have, x);
	ok = san_set_equal(&have, wanted);
out:
	ERR_clear_error();
	san_set_release(&have);
	X509_free(x);
	EVP_PKEY_free(key);
	return ok;
}

int pki_ensure(const char *data_dir, const char *const *extra_names, size_t extra_count,
	       orch_error *err)
{
	cleanup_free char *dir = NULL, *cert_path = pki_path(data_dir, PKI_SERVER_CERT_FILE);
	cleanup_free char *key_path = pki_path(data_dir, PKI_SERVER_KEY_FILE);
	cleanup_free char *san = NULL;
	struct san_set wanted = { .count = 0 };
	EVP_PKEY *ca_key = NULL, *key = NULL;
	X509 *ca = NULL, *x = NULL;
	char host[256] = "orch server";
	int rc = -1;

	if (asprintf(&dir, "%s/" PKI_DIR, data_dir) < 0 || !cert_path || !key_path) {
		dir = NULL;
		return orch_fail_errno(err, ENOMEM, "preparing the PKI");
	}
	if (fs_mkdir_p(dir, 0700, err) < 0 || ca_ensure(data_dir, &ca, &ca_key, err) < 0)
		return -1;
	san_set_wanted(&wanted, extra_names, extra_count);
	if (server_cert_current(cert_path, key_path, ca, &wanted)) {
		rc = 0;
		goto out;
	}
	san = san_set_config(&wanted);
	key = EVP_EC_gen("P-256");
	if (!san || !key) {
		ssl_fail(err, "generating the server key");
		goto out;
	}
	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	x = cert_build(key, host, PKI_SERVER_DAYS, ca, ca_key, san, err);
	if (!x || key_write(key, key_path, err) < 0 || cert_write(x, cert_path, err) < 0) {
		orch_error_prefix(err, "issuing the server certificate");
		goto out;
	}
	log_info("pki: issued the server certificate for %s", san);
	rc = 0;
out:
	san_set_release(&wanted);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return rc;
}

SSL_CTX *pki_server_tls_context(const char *data_dir, orch_error *err)
{
	cleanup_free char *cert_path = pki_path(data_dir, PKI_SERVER_CERT_FILE);
	cleanup_free char *key_path = pki_path(data_dir, PKI_SERVER_KEY_FILE);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx || !cert_path || !key_path) {
		ssl_fail(err, "creating the TLS context");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
			    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, PKI_TLS12_CIPHERS) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ssl_fail(err, "loading the server certificate");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* ---- fingerprints and the join token --------------------------------------- */

int pki_cert_pem_sha256(const char *pem, size_t len, char out[PKI_SHA256_HEX_LEN + 1],
			orch_error *err)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	BIO_free(bio);
	if (!x) {
		ERR_clear_error();
		return orch_fail(err, ORCH_ERR_INVALID, "not a PEM certificate");
	}
	if (X509_digest(x, EVP_sha256(), md, &md_len) != 1 || md_len != 32) {
		X509_free(x);
		return ssl_fail(err, "hashing a certificate");
	}
	X509_free(x);
	for (unsigned int i = 0; i < md_len; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static void hex_encode(const unsigned char *md, unsigned int len, char *out)
{
	for (unsigned int i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static bool only_whitespace(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isspace((unsigned char)s[i]))
			return false;
	return true;
}

int pki_ca_pem_canonical(const char *pem, size_t len, char **canonical_out,
			 char sha256_out[PKI_SHA256_HEX_LEN + 1], orch_error *err)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	size_t start = 0;
	BIO *in = NULL, *out = NULL;
	char *name = NULL, *header = NULL, *rest = NULL, *encoded = NULL;
	unsigned char *der = NULL, *der_stored = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	const unsigned char *p;
	long der_len = 0, rest_len, encoded_len;
	int stored_len, rc = -1;
	X509 *x = NULL;

	*canonical_out = NULL;
	if (len > PKI_CA_PEM_MAX)
		return orch_fail(err, ORCH_ERR_INVALID, "the CA certificate is larger than %d bytes",
				 PKI_CA_PEM_MAX);
	if (memchr(pem, '\0', len))
		return orch_fail(err, ORCH_ERR_INVALID, "the CA certificate holds a NUL byte");
	while (start < len && isspace((unsigned char)pem[start]))
		start++;
	if (len - start < sizeof(begin) - 1 || memcmp(pem + start, begin, sizeof(begin) - 1) != 0)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "not one PEM certificate: the answer must start with '%s'", begin);
	in = BIO_new_mem_buf(pem + start, (int)(len - start));
	if (!in || PEM_read_bio(in, &name, &header, &der, &der_len) != 1) {
		orch_fail(err, ORCH_ERR_INVALID, "not a PEM certificate");
		goto out;
	}
	p = der;
	if (strcmp(name, "CERTIFICATE") != 0 || header[0] ||
	    !(x = d2i_X509(NULL, &p, der_len)) || p != der + der_len) {
		orch_fail(err, ORCH_ERR_INVALID, "the PEM block is not exactly one certificate");
		goto out;
	}
	/* A mem BIO hands PEM_read_bio one line at a time: the rest is unread. */
	rest_len = BIO_get_mem_data(in, &rest);
	if (rest_len > 0 && !only_whitespace(rest, (size_t)rest_len)) {
		orch_fail(err, ORCH_ERR_INVALID,
			  "%ld bytes follow the CA certificate (a second certificate, a key or "
			  "other data): exactly one certificate is accepted", rest_len);
		goto out;
	}
	out = BIO_new(BIO_s_mem());
	if (!out || PEM_write_bio_X509(out, x) != 1 ||
	    (encoded_len = BIO_get_mem_data(out, &encoded)) <= 0) {
		ssl_fail(err, "encoding the CA certificate");
		goto out;
	}
	stored_len = i2d_X509(x, &der_stored);
	if (stored_len <= 0 ||
	    EVP_Digest(der_stored, (size_t)stored_len, md, &md_len, EVP_sha256(), NULL) != 1 ||
	    md_len != 32) {
		ssl_fail(err, "hashing the CA certificate");
		goto out;
	}
	*canonical_out = strndup(encoded, (size_t)encoded_len);
	if (!*canonical_out) {
		orch_fail_errno(err, ENOMEM, "copying the CA certificate");
		goto out;
	}
	hex_encode(md, md_len, sha256_out);
	rc = 0;
out:
	ERR_clear_error();
	OPENSSL_free(der_stored);
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(out);
	BIO_free(in);
	return rc;
}

static int ca_sha256(const char *data_dir, char out[PKI_SHA256_HEX_LEN + 1], orch_error *err)
{
	cleanup_free char *path = pki_path(data_dir, PKI_CA_CERT_FILE);
	cleanup_free char *pem = NULL;
	size_t len;

	if (!path)
		return orch_fail_errno(err, ENOMEM, "reading the CA");
	if (fs_read_file(path, PKI_CA_PEM_MAX, &pem, &len, err) < 0)
		return -1;
	return pki_cert_pem_sha256(pem, len, out, err);
}

int pki_join_token_parse(const char *token, char ca_sha256_out[PKI_SHA256_HEX_LEN + 1],
			 char *secret, size_t secret_size, orch_error *err)
{
	size_t prefix = strlen(AGENT_JOIN_TOKEN_PREFIX);
	const char *sep;

	if (strncmp(token, AGENT_JOIN_TOKEN_PREFIX, prefix) != 0)
		goto bad;
	sep = strstr(token, AGENT_JOIN_TOKEN_SEPARATOR);
	if (!sep || (size_t)(sep - token) != prefix + PKI_SHA256_HEX_LEN)
		goto bad;
	for (const char *p = token + prefix; p < sep; p++)
		if (!strchr("0123456789abcdefABCDEF", *p))
			goto bad;
	sep += strlen(AGENT_JOIN_TOKEN_SEPARATOR);
	if (!*sep || strlen(sep) >= secret_size || strcspn(sep, " \t\r\n") != strlen(sep))
		goto bad;
	for (size_t i = 0; i < PKI_SHA256_HEX_LEN; i++) {
		char c = token[prefix + i];

		ca_sha256_out[i] = (char)(('A' <= c && c <= 'F') ? c - 'A' + 'a' : c);
	}
	ca_sha256_out[PKI_SHA256_HEX_LEN] = '\0';
	snprintf(secret, secret_size, "%s", sep);
	return 0;
bad:
	return orch_fail(err, ORCH_ERR_INVALID,
			 "malformed join token: expected K10<64 hex digits>::<secret>, as in the "
			 "server's <data>/join-token");
}

int pki_join_token_load_or_create(const char *data_dir, char out[PKI_JOIN_TOKEN_MAX],
				  orch_error *err)
{
	cleanup_free char *path = NULL, *text = NULL;
	char hash[PKI_SHA256_HEX_LEN + 1], old_hash[PKI_SHA256_HEX_LEN + 1];
	char secret[PKI_JOIN_TOKEN_MAX];
	unsigned char raw[PKI_JOIN_SECRET_BYTES];

	if (asprintf(&path, "%s/" PKI_JOIN_TOKEN_FILE, data_dir) < 0) {
		path = NULL;
		return orch_fail_errno(err, ENOMEM, "reading the join token");
	}
	if (ca_sha256(data_dir, hash, err) < 0)
		return -1;
	if (access(path, F_OK) == 0) {
		if (fs_read_file(path, PKI_JOIN_TOKEN_MAX, &text, NULL, err) < 0)
			return -1;
		text[strcspn(text, "\r\n")] = '\0';
		if (pki_join_token_parse(text, old_hash, secret, sizeof(secret), NULL) == 0 &&
		    strcmp(old_hash, hash) == 0) {
			snprintf(out, PKI_JOIN_TOKEN_MAX, "%s", text);
			OPENSSL_cleanse(secret, sizeof(secret));
			return 0;
		}
		log_warn("pki: %s does not match the CA; writing a new join token", path);
		OPENSSL_cleanse(secret, sizeof(secret));
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return orch_fail(err, ORCH_ERR_INTERNAL, "generating the join secret: no randomness");
	snprintf(out, PKI_JOIN_TOKEN_MAX, AGENT_JOIN_TOKEN_PREFIX "%s" AGENT_JOIN_TOKEN_SEPARATOR,
		 hash);
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + strlen(out), 3, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof(raw));
	return fs_write_file_atomic(path, out, strlen(out), 0600, err);
}

bool pki_join_secret_matches(const char *join_token, const char *presented)
{
	char hash[PKI_SHA256_HEX_LEN + 1], secret[PKI_JOIN_TOKEN_MAX];
	char given_hash[PKI_SHA256_HEX_LEN + 1], given_secret[PKI_JOIN_TOKEN_MAX];
	size_t len;
	bool ok;

	if (!join_token || !presented)
		return false;
	if (strncasecmp(presented, "Bearer ", 7) == 0)
		presented += 7;
	if (pki_join_token_parse(join_token, hash, secret, sizeof(secret), NULL) < 0)
		return false;
	if (strstr(presented, AGENT_JOIN_TOKEN_SEPARATOR)) {
		/* A whole token: its CA hash must match too. */
		if (pki_join_token_parse(presented, given_hash, given_secret, sizeof(given_secret),
					 NULL) < 0 || strcmp(given_hash, hash) != 0)
			return false;
		presented = given_secret;
	}
	len = strlen(secret);
	ok = strlen(presented) == len && CRYPTO_memcmp(presented, secret, len) == 0;
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(given_secret, sizeof(given_secret));
	return ok;
}
