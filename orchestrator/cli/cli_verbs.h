/*
 * cli_verbs.h - the API client verbs' one option, verb and usage layer:
 *
 *   orch NOUN [GLOBAL FLAGS] VERB [ARGS] [FLAGS] [-- CMD ARGS...]
 *
 * Every client noun (taskdef, cluster, task, node) is a table of verbs run
 * through cli_client_main, which parses the global flags here and nowhere
 * else:
 *
 *   --server URL   --token TOKEN   --ca FILE   --data DIR
 *   --json         --cluster C (nouns that have one)   -h, --help
 *
 * They may stand before the verb or anywhere after it; a noun's own flags
 * only after it (GNU getopt order: flags and arguments mix, "--" ends the
 * flags).  Where the server, token and CA come from when a flag is absent
 * (ORCH_SERVER, ORCH_TOKEN, ORCH_CA, ORCH_DATA, then the local data dir) is
 * cli_conn_resolve's (cli_http.h); the data dir alone, which the local verbs
 * (cli_run.h, cli_image.h) share, is cli_data_dir's.
 *
 * Exit status: 0; 1 on an error, "orch: MESSAGE" on stderr; 2 on a usage
 * error, with the usage on stderr.  `orch NOUN --help` prints the noun's
 * usage, `orch NOUN VERB --help` the verb's, both on stdout.
 *
 * Adding a verb to a noun:
 *   1. write   static int noun_verb(struct cli_conn *conn,
 *                                   const struct cli_args *a, orch_error *err)
 *      which answers 0 (or the exit status it wants, as `task exec`), or -1
 *      with err set;
 *   2. add a line to the noun's verb table:
 *        { "verb", "orch noun verb ARG [--flag F]", 1, 1, false, noun_verb },
 *      (name, usage line, fewest and most arguments, whether it takes
 *      "-- CMD ARGS...", the function);
 *   3. if it needs a flag of its own, add it to the noun's option table and
 *      option function (a noun's flags are accepted by all its verbs).
 * A new noun is a `const struct cli_noun` in its own file, declared at the
 * end of this header and listed in cli_nouns[] in cli_verbs.c.
 */
#ifndef ORCH_CLI_VERBS_H
#define ORCH_CLI_VERBS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cli_http.h"
#include "common/error.h"

/* The cluster a verb acts on when --cluster is not given. */
#define CLI_DEFAULT_CLUSTER "default"

/* Exit statuses of the CLI verbs. */
#define CLI_EXIT_ERROR 1
#define CLI_EXIT_USAGE 2

/*
 * Option codes a noun may give its own flags: a short flag's letter (but
 * 'h', which is -h's), or CLI_OPTION_NOUN + n for a long-only one.  Codes
 * from CLI_OPTION_GLOBAL up are this layer's.
 */
#define CLI_OPTION_NOUN 0x100
#define CLI_OPTION_GLOBAL 0x1000

/* Long flags the global ones and one noun's may add up to. */
#define CLI_MAX_OPTIONS 48

/* What a verb is called with: the command line, parsed. */
struct cli_args {
	/* The global flags; NULL where absent (cli_conn_resolve falls back). */
	const char *server, *token, *ca, *data;
	const char *cluster;	/* --cluster, else CLI_DEFAULT_CLUSTER */
	bool json;
	int argc;		/* the verb's arguments */
	char **argv;
	int cmd_argc;		/* after "--", for a verb that takes a command */
	char **cmd_argv;
	const void *options;	/* the noun's own flags (cli_noun.options_size) */
};

struct cli_verb {
	const char *name;
	/* "orch NOUN VERB ..."; more lines indented by eight spaces. */
	const char *usage;
	int min_args, max_args;
	bool takes_command;	/* "-- CMD ARGS..." goes to cmd_argc/cmd_argv */
	/* 0 or an exit status to end with; -1 with err set: exit status 1. */
	int (*run)(struct cli_conn *conn, const struct cli_args *a, orch_error *err);
};

struct cli_noun {
	const char *name;
	const char *summary;	/* its line in `orch --help` */
	const struct cli_verb *verbs;
	size_t verb_count;
	bool has_cluster;	/* takes --cluster */
	/*
	 * The noun's own flags, accepted after any of its verbs: getopt's short
	 * option string (NULL: none) and long options (NULL, or ending with a
	 * zeroed entry; flag must be NULL).  options_size bytes, zeroed, are
	 * what option() parses them into and what verbs find in
	 * cli_args.options, so zero is every flag's "not given".  option()
	 * answers 0, or -1 after saying on stderr what is wrong (a usage error).
	 */
	const char *short_options;
	const struct option *options;
	size_t options_size;
	int (*option)(void *options, int code, const char *arg);
};

/* True if word is a client noun cli_client_main handles. */
bool cli_client_handles(const char *word);

/* Each noun's line of `orch --help` ("  task       run, list, ..."). */
void cli_client_usage_lines(FILE *out);

/*
 * argv[0] is the noun.  Parses the command line, resolves the server
 * (cli_conn_resolve), runs the verb and returns the process's exit status.
 * Permutes argv.
 */
int cli_client_main(int argc, char **argv);

/*
 * The data dir: the --data flag if given, else $ORCH_DATA; where that is
 * empty, ORCH_DEFAULT_DATA_DIR.  The local verbs' --data too.
 */
const char *cli_data_dir(const char *flag);

/* The nouns (cli_taskdef.c, cli_cluster.c, cli_task.c, cli_node.c, cli_service.c). */
extern const struct cli_noun cli_noun_taskdef;
extern const struct cli_noun cli_noun_cluster;
extern const struct cli_noun cli_noun_task;
extern const struct cli_noun cli_noun_node;
extern const struct cli_noun cli_noun_service;

#endif
