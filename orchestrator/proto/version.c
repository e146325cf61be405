/* version.c - versions as the linked libraries report them at run time. */
#include "version.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

const char ORCH_VERSION_STRING[] = ORCH_VERSION;

json_t *orch_library_versions(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}",
			 "sqlite", sqlite3_libversion(),
			 "libevent", event_get_version(),
			 "jansson", jansson_version_str(),
			 "libcurl", curl_version_info(CURLVERSION_NOW)->version,
			 "openssl", OpenSSL_version(OPENSSL_VERSION));
}

void orch_print_version(FILE *out)
{
	fprintf(out, "orch %s\n", ORCH_VERSION_STRING);
	fprintf(out, "  sqlite   %s\n", sqlite3_libversion());
	fprintf(out, "  libevent %s\n", event_get_version());
	fprintf(out, "  jansson  %s\n", jansson_version_str());
	fprintf(out, "  libcurl  %s\n", curl_version_info(CURLVERSION_NOW)->version);
	fprintf(out, "  openssl  %s\n", OpenSSL_version(OPENSSL_VERSION));
}
