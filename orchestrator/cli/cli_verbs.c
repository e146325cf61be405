/*
 * cli_verbs.c - parsing, dispatch and usage of the API client verbs.  See
 * cli_verbs.h.
 *
 * getopt runs twice over the words after the noun.  The first pass knows
 * only the global flags and stops at the first other word: the verb.  The
 * verb is then moved in front of the flags that preceded it, and the second
 * pass parses every flag, global or the noun's, in order.  So each flag is
 * stored in one place whichever side of the verb it stood on, and a later
 * one wins.
 */
#include "cli_verbs.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/cleanup.h"
#include "proto/data_dir.h"

static const struct cli_noun *const cli_nouns[] = {
	&cli_noun_taskdef,
	&cli_noun_cluster,
	&cli_noun_task,
	&cli_noun_node,
	&cli_noun_service,
};

#define CLI_NOUN_COUNT (sizeof(cli_nouns) / sizeof(cli_nouns[0]))

enum {
	CLI_OPT_HELP = 'h',
	CLI_OPT_SERVER = CLI_OPTION_GLOBAL,
	CLI_OPT_TOKEN,
	CLI_OPT_CA,
	CLI_OPT_DATA,
	CLI_OPT_JSON,
	CLI_OPT_CLUSTER,
};

/* The global flags; --cluster only for nouns that have clusters. */
static const struct option cli_global_options[] = {
	{ "server", required_argument, NULL, CLI_OPT_SERVER },
	{ "token", required_argument, NULL, CLI_OPT_TOKEN },
	{ "ca", required_argument, NULL, CLI_OPT_CA },
	{ "data", required_argument, NULL, CLI_OPT_DATA },
	{ "json", no_argument, NULL, CLI_OPT_JSON },
	{ "help", no_argument, NULL, CLI_OPT_HELP },
	{ "cluster", required_argument, NULL, CLI_OPT_CLUSTER },
};

#define CLI_GLOBAL_OPTION_COUNT (sizeof(cli_global_options) / sizeof(cli_global_options[0]))

const char *cli_data_dir(const char *flag)
{
	const char *dir = flag ? flag : getenv(ORCH_DATA_ENV);

	return dir && *dir ? dir : ORCH_DEFAULT_DATA_DIR;
}

static const struct cli_noun *noun_named(const char *name)
{
	for (size_t i = 0; i < CLI_NOUN_COUNT; i++)
		if (strcmp(cli_nouns[i]->name, name) == 0)
			return cli_nouns[i];
	return NULL;
}

bool cli_client_handles(const char *word)
{
	return noun_named(word) != NULL;
}

void cli_client_usage_lines(FILE *out)
{
	for (size_t i = 0; i < CLI_NOUN_COUNT; i++)
		fprintf(out, "  %-10s %s\n", cli_nouns[i]->name, cli_nouns[i]->summary);
}

static void noun_usage(FILE *out, const struct cli_noun *noun)
{
	fprintf(out, "usage:\n");
	for (size_t i = 0; i < noun->verb_count; i++)
		fprintf(out, "  %s\n", noun->verbs[i].usage);
	fprintf(out, "\ncommon options (before or after the verb):\n"
		"  --server URL    API address (env ORCH_SERVER; default: the local server's)\n"
		"  --token TOKEN   bearer token (env ORCH_TOKEN; default: the local admin token)\n"
		"  --ca FILE       CA certificate to verify the server with (env ORCH_CA;\n"
		"                  default: the local server's pki/ca.pem, else the system's)\n"
		"  --data DIR      data dir of a local server to find these in (env ORCH_DATA;\n"
		"                  default " ORCH_DEFAULT_DATA_DIR ")\n");
	if (noun->has_cluster)
		fprintf(out, "  --cluster C     the cluster (default: " CLI_DEFAULT_CLUSTER ")\n");
	fprintf(out, "  --json          print the API's JSON instead of a table\n"
		"  -h, --help      this text; after a verb, the verb's usage\n");
}

static void verb_usage(FILE *out, const struct cli_verb *verb)
{
	fprintf(out, "usage: %s\n", verb->usage);
}

/*
 * The getopt tables of a noun: in globals its global flags, in all those
 * and its own, each ending with a zeroed entry; in shortopts -h and its
 * short flags.  -1 if they do not fit (a noun's table too large: a bug).
 */
static int noun_option_tables(const struct cli_noun *noun,
			      struct option globals[CLI_GLOBAL_OPTION_COUNT + 1],
			      struct option all[CLI_MAX_OPTIONS + 1],
			      char *shortopts, size_t shortopts_size)
{
	size_t n = 0;

	for (size_t i = 0; i < CLI_GLOBAL_OPTION_COUNT; i++)
		if (cli_global_options[i].val != CLI_OPT_CLUSTER || noun->has_cluster)
			globals[n++] = cli_global_options[i];
	globals[n] = (struct option){ 0 };
	memcpy(all, globals, n * sizeof(*all));
	for (const struct option *o = noun->options; o && o->name; o++) {
		if (n == CLI_MAX_OPTIONS)
			return -1;
		all[n++] = *o;
	}
	all[n] = (struct option){ 0 };
	if ((size_t)snprintf(shortopts, shortopts_size, "h%s",
			     noun->short_options ? noun->short_options : "") >= shortopts_size)
		return -1;
	return 0;
}

/*
 * The index in argv (argv[0] the noun) of the verb: the first word that is
 * not a global flag or its value.  A word that is no global flag ("--" too)
 * ends the search there, to be refused as an unknown command.  *help when
 * -h/--help came first.
 */
static int find_verb(int argc, char **argv, const struct option *globals, bool *help)
{
	int c;

	opterr = 0;
	optind = 0;		/* re-initialises getopt, its ordering included */
	for (;;) {
		int at = optind ? optind : 1;

		if (at < argc && strcmp(argv[at], "--") == 0)
			return at;
		c = getopt_long(argc, argv, "+h", globals, NULL);
		if (c == -1)
			return optind;
		if (c == CLI_OPT_HELP) {
			*help = true;
			return at;
		}
		if (c == '?' || c == ':')
			return at;
	}
}

/*
 * The second pass: argv[0] is the verb, then every flag and argument.
 * Returns 0, 1 for -h/--help, or -1 on a usage error (getopt or the noun's
 * option() said which).
 */
static int parse_flags(const struct cli_noun *noun, const struct cli_verb *verb,
		       int argc, char **argv, const struct option *all,
		       const char *shortopts, void *options, struct cli_args *a)
{
	int end = argc, c;

	if (verb->takes_command)
		for (int i = 1; i < argc; i++)
			if (strcmp(argv[i], "--") == 0) {
				end = i;
				break;
			}
	if (end < argc) {
		a->cmd_argc = argc - end - 1;
		a->cmd_argv = argv + end + 1;
	}
	opterr = 1;
	optind = 0;
	/* GNU getopt permutes: flags may come before or after the arguments. */
	while ((c = getopt_long(end, argv, shortopts, all, NULL)) != -1) {
		switch (c) {
		case CLI_OPT_SERVER: a->server = optarg; break;
		case CLI_OPT_TOKEN: a->token = optarg; break;
		case CLI_OPT_CA: a->ca = optarg; break;
		case CLI_OPT_DATA: a->data = optarg; break;
		case CLI_OPT_JSON: a->json = true; break;
		case CLI_OPT_CLUSTER: a->cluster = optarg; break;
		case CLI_OPT_HELP: return 1;
		case '?':
		case ':':
			return -1;
		default:
			if (!noun->option || noun->option(options, c, optarg) < 0)
				return -1;
		}
	}
	a->argc = end - optind;
	a->argv = argv + optind;
	return 0;
}

int cli_client_main(int argc, char **argv)
{
	const struct cli_noun *noun = noun_named(argv[0]);
	struct option globals[CLI_GLOBAL_OPTION_COUNT + 1], all[CLI_MAX_OPTIONS + 1];
	struct cli_args a = { .cluster = CLI_DEFAULT_CLUSTER };
	orch_error err = ORCH_ERROR_INIT;
	const struct cli_verb *verb = NULL;
	cleanup_free void *options = NULL;
	struct cli_conn conn;
	char shortopts[32];
	bool help = false;
	char *verb_word;
	int at, rc;

	if (!noun || noun_option_tables(noun, globals, all, shortopts, sizeof(shortopts)) < 0) {
		fprintf(stderr, "orch: no option table for '%s'\n", argv[0]);
		return CLI_EXIT_ERROR;
	}
	at = find_verb(argc, argv, globals, &help);
	if (help || (at < argc && strcmp(argv[at], "help") == 0)) {
		noun_usage(stdout, noun);
		return 0;
	}
	if (at >= argc) {
		noun_usage(stderr, noun);
		return CLI_EXIT_USAGE;
	}
	for (size_t i = 0; i < noun->verb_count; i++)
		if (strcmp(noun->verbs[i].name, argv[at]) == 0)
			verb = &noun->verbs[i];
	if (!verb) {
		fprintf(stderr, "orch %s: unknown command '%s'\n", noun->name, argv[at]);
		noun_usage(stderr, noun);
		return CLI_EXIT_USAGE;
	}
	/* NOUN FLAGS... VERB REST -> NOUN VERB FLAGS... REST */
	verb_word = argv[at];
	memmove(argv + 2, argv + 1, (size_t)(at - 1) * sizeof(*argv));
	argv[1] = verb_word;

	options = calloc(1, noun->options_size ? noun->options_size : 1);
	if (!options) {
		fprintf(stderr, "orch: out of memory\n");
		return CLI_EXIT_ERROR;
	}
	a.options = options;
	rc = parse_flags(noun, verb, argc - 1, argv + 1, all, shortopts, options, &a);
	if (rc > 0) {
		verb_usage(stdout, verb);
		return 0;
	}
	if (rc < 0 || a.argc < verb->min_args || a.argc > verb->max_args) {
		verb_usage(stderr, verb);
		return CLI_EXIT_USAGE;
	}

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cli_conn_resolve(a.server, a.token, a.ca, a.data, &conn, &err);
	if (rc == 0) {
		rc = verb->run(&conn, &a, &err);
		cli_conn_release(&conn);
	}
	curl_global_cleanup();
	if (rc < 0) {
		fprintf(stderr, "orch: %s\n", err.message);
		return CLI_EXIT_ERROR;
	}
	return rc;
}
