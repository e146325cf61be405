/*
 * cli_image.c - `orch image ...` on the local image store.
 *
 * The store lives under --data DIR (env ORCH_DATA, default /var/lib/orch;
 * cli_data_dir), the same data dir the server and agent use.
 */
#include "cli_image.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli_verbs.h"
#include "common/error.h"
#include "common/log.h"
#include "runtime/image_import.h"
#include "runtime/image_pull.h"
#include "runtime/image_store.h"
#include "runtime/layer_unpack.h"
#include "runtime/registry.h"
#include "proto/data_dir.h"

struct image_cli {
	const char *data_dir;
	const char *name;
	bool json, quiet, force;
	struct registry_options reg;
	struct layer_unpack_limits limits;
	int argc;
	char **argv;
};

static void image_usage(FILE *out)
{
	struct layer_unpack_limits d;

	layer_unpack_limits_default(&d);
	fprintf(out,
		"usage: orch image COMMAND [options] ARGS\n"
		"\n"
		"commands:\n"
		"  pull REF            pull from a registry (busybox = docker.io/library/busybox:latest)\n"
		"  import PATH         import an OCI layout (dir or tar) or a `docker save` tarball\n"
		"  ls                  list local images\n"
		"  rm REF|ID...        untag and remove images (not those containers use)\n"
		"  gc                  remove unused layers, blobs and stale downloads\n"
		"  inspect REF|ID      print the image as the runtime sees it (JSON)\n"
		"\n"
		"options:\n"
		"  --data DIR                   data dir (env ORCH_DATA; default %s)\n"
		"  --insecure-registry H:P      plain HTTP to this registry (repeatable; env %s=h:p,...)\n"
		"  --registry-config FILE       Docker config.json with credentials (env %s)\n"
		"  --max-layer-size SIZE        unpack bound per layer, e.g. 8G (env %s; now %llu)\n"
		"  --max-layer-entries N        entries per layer (env %s; now %llu)\n"
		"  --name REPO[:TAG]            import: the name to give the image\n"
		"  --force                      rm: untag even if containers use the image\n"
		"  --json                       ls: JSON output\n"
		"  -q, --quiet                  pull: no progress bar; ls: IDs only\n"
		"  --log-level LEVEL            debug, info, warn, error\n",
		ORCH_DEFAULT_DATA_DIR, REGISTRY_INSECURE_ENV, REGISTRY_CONFIG_ENV,
		LAYER_UNPACK_MAX_BYTES_ENV, (unsigned long long)d.max_bytes,
		LAYER_UNPACK_MAX_ENTRIES_ENV, (unsigned long long)d.max_entries);
}

static int fail(const orch_error *err)
{
	fprintf(stderr, "orch: error: %s\n", err->message);
	return err->kind == ORCH_ERR_NOT_FOUND ? 3 : 1;
}

static int cmd_pull(struct image_cli *c, struct image_store *is)
{
	orch_error err = ORCH_ERROR_INIT;
	char id[IMAGE_ID_MAX], name[IMAGE_REF_STR_MAX];
	int rc;

	c->reg.progress = !c->quiet && isatty(STDERR_FILENO);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = image_pull(is, c->argv[0], &c->reg, id, name, &err);
	curl_global_cleanup();
	if (rc < 0)
		return fail(&err);
	printf("%s %s\n", name, id);
	return 0;
}

static int cmd_import(struct image_cli *c, struct image_store *is)
{
	orch_error err = ORCH_ERROR_INIT;
	struct image_import_result res[IMAGE_IMPORT_MAX_IMAGES];
	size_t n = 0;

	if (image_import(is, c->argv[0], c->name, res, IMAGE_IMPORT_MAX_IMAGES, &n, &err) < 0)
		return fail(&err);
	for (size_t i = 0; i < n; i++)
		printf("%s %s\n", res[i].name[0] ? res[i].name : "<none>", res[i].id);
	return 0;
}

static void human_size(long long bytes, char *buf, size_t size)
{
	if (bytes >= 1000LL * 1000 * 1000)
		snprintf(buf, size, "%.2fGB", (double)bytes / 1e9);
	else if (bytes >= 1000 * 1000)
		snprintf(buf, size, "%.1fMB", (double)bytes / 1e6);
	else
		snprintf(buf, size, "%.1fkB", (double)bytes / 1e3);
}

static int cmd_ls(struct image_cli *c, struct image_store *is)
{
	orch_error err = ORCH_ERROR_INIT;
	json_t *list = NULL, *img;
	size_t i;

	if (image_store_list(is, &list, &err) < 0)
		return fail(&err);
	if (c->json) {
		char *text = json_dumps(list, JSON_INDENT(2));

		printf("%s\n", text ? text : "[]");
		free(text);
		json_decref(list);
		return 0;
	}
	if (!c->quiet)
		printf("%-60s %-14s %-10s %-7s %s\n", "NAME", "IMAGE ID", "SIZE", "LAYERS", "CONTAINERS");
	json_array_foreach(list, i, img) {
		const char *id = json_string_value(json_object_get(img, "id"));
		json_t *names = json_object_get(img, "names"), *n;
		char size[32];
		size_t j;

		if (c->quiet) {
			printf("%s\n", id);
			continue;
		}
		human_size(json_integer_value(json_object_get(img, "size")), size, sizeof(size));
		if (json_array_size(names) == 0)
			printf("%-60s %-14.12s %-10s %-7lld %lld\n", "<none>", id + 7, size,
			       (long long)json_integer_value(json_object_get(img, "layers")),
			       (long long)json_integer_value(json_object_get(img, "containers")));
		json_array_foreach(names, j, n)
			printf("%-60s %-14.12s %-10s %-7lld %lld\n", json_string_value(n), id + 7, size,
			       (long long)json_integer_value(json_object_get(img, "layers")),
			       (long long)json_integer_value(json_object_get(img, "containers")));
	}
	json_decref(list);
	return 0;
}

static int cmd_rm(struct image_cli *c, struct image_store *is)
{
	int status = 0;

	for (int i = 0; i < c->argc; i++) {
		orch_error err = ORCH_ERROR_INIT;
		bool deleted = false;

		if (image_store_remove(is, c->argv[i], c->force, &deleted, &err) < 0) {
			status = fail(&err);
			continue;
		}
		printf("%s %s\n", deleted ? "deleted" : "untagged", c->argv[i]);
	}
	return status;
}

static int cmd_gc(struct image_cli *c, struct image_store *is)
{
	orch_error err = ORCH_ERROR_INIT;
	struct image_gc_stats st;

	if (image_store_gc(is, &st, &err) < 0)
		return fail(&err);
	printf("removed %zu images, %zu layers, %zu blobs (%.1f MB)\n", st.images_removed,
	       st.layers_removed, st.blobs_removed, (double)st.bytes_freed / 1e6);
	return 0;
}

static int cmd_inspect(struct image_cli *c, struct image_store *is)
{
	orch_error err = ORCH_ERROR_INIT;
	struct image_info info;
	json_t *out, *dirs;
	char *text;

	if (image_store_resolve(is, c->argv[0], &info, &err) < 0)
		return fail(&err);
	dirs = json_array();
	for (size_t i = 0; i < info.layer_count; i++)
		json_array_append_new(dirs, json_string(info.layer_dirs[i]));
	out = json_pack("{s:s,s:s?,s:O,s:o}", "id", info.id, "name", info.name, "config", info.config,
			"layer_dirs", dirs);
	text = out ? json_dumps(out, JSON_INDENT(2)) : NULL;
	printf("%s\n", text ? text : "{}");
	free(text);
	json_decref(out);
	image_info_release(&info);
	return 0;
}

static const struct {
	const char *name;
	int min_args, max_args;
	int (*run)(struct image_cli *c, struct image_store *is);
} image_commands[] = {
	{ "pull", 1, 1, cmd_pull },
	{ "import", 1, 1, cmd_import },
	{ "ls", 0, 0, cmd_ls },
	{ "list", 0, 0, cmd_ls },
	{ "rm", 1, 64, cmd_rm },
	{ "gc", 0, 0, cmd_gc },
	{ "inspect", 1, 1, cmd_inspect },
};

enum {
	OPT_DATA = 256, OPT_INSECURE, OPT_REGCONFIG, OPT_MAX_SIZE, OPT_MAX_ENTRIES, OPT_NAME,
	OPT_FORCE, OPT_JSON, OPT_LOG_LEVEL, OPT_HELP,
};

int cli_image_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data", required_argument, NULL, OPT_DATA },
		{ "insecure-registry", required_argument, NULL, OPT_INSECURE },
		{ "registry-config", required_argument, NULL, OPT_REGCONFIG },
		{ "max-layer-size", required_argument, NULL, OPT_MAX_SIZE },
		{ "max-layer-entries", required_argument, NULL, OPT_MAX_ENTRIES },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct image_cli c = { 0 };
	struct image_store *is = NULL;
	orch_error err = ORCH_ERROR_INIT;
	const char *cmd;
	int opt, rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		image_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	layer_unpack_limits_default(&c.limits);
	optind = 1;
	while ((opt = getopt_long(argc - 1, argv + 1, "q", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_DATA: c.data_dir = optarg; break;
		case OPT_INSECURE:
			if (c.reg.insecure_count == REGISTRY_MAX_INSECURE) {
				fprintf(stderr, "orch: too many --insecure-registry\n");
				return 2;
			}
			c.reg.insecure[c.reg.insecure_count++] = optarg;
			break;
		case OPT_REGCONFIG: c.reg.config_path = optarg; break;
		case OPT_MAX_SIZE:
			if (layer_parse_size(optarg, &c.limits.max_bytes) < 0) {
				fprintf(stderr, "orch: --max-layer-size: '%s' is not a size\n", optarg);
				return 2;
			}
			break;
		case OPT_MAX_ENTRIES:
			if (layer_parse_size(optarg, &c.limits.max_entries) < 0) {
				fprintf(stderr, "orch: --max-layer-entries: '%s' is not a number\n", optarg);
				return 2;
			}
			break;
		case OPT_NAME: c.name = optarg; break;
		case OPT_FORCE: c.force = true; break;
		case OPT_JSON: c.json = true; break;
		case 'q': c.quiet = true; break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &log_threshold) < 0) {
				fprintf(stderr, "orch: unknown log level '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_HELP: image_usage(stdout); return 0;
		default: image_usage(stderr); return 2;
		}
	}
	c.data_dir = cli_data_dir(c.data_dir);
	c.argc = argc - 1 - optind;
	c.argv = argv + 1 + optind;
	for (size_t i = 0; i < sizeof(image_commands) / sizeof(image_commands[0]); i++) {
		if (strcmp(cmd, image_commands[i].name) != 0)
			continue;
		if (c.argc < image_commands[i].min_args || c.argc > image_commands[i].max_args) {
			fprintf(stderr, "orch: image %s: wrong number of arguments\n", cmd);
			image_usage(stderr);
			return 2;
		}
		if (image_store_open(c.data_dir, &is, &err) < 0)
			return fail(&err);
		image_store_set_unpack_limits(is, &c.limits);
		rc = image_commands[i].run(&c, is);
		image_store_close(is);
		return rc;
	}
	fprintf(stderr, "orch: unknown image command '%s'\n", cmd);
	image_usage(stderr);
	return 2;
}
