/*
 * linux_ns.h - namespaces of a container and what is set inside them right
 * after creation: the hostname (UTS) and the loopback interface (net).
 *
 * The shim unshares the PID namespace itself (so its one fork becomes the
 * container's PID 1); the init then unshares mount, UTS, IPC and, unless the
 * network mode is host, net; the cgroup namespace last, after the shim moved
 * it into its cgroup, so the cgroup is the namespace's root.
 */
#ifndef ORCH_RUNTIME_LINUX_NS_H
#define ORCH_RUNTIME_LINUX_NS_H

#include <stdbool.h>

#include "common/error.h"

enum linux_network_mode {
	LINUX_NETWORK_NONE,	/* a new net namespace with only lo, up */
	LINUX_NETWORK_HOST,	/* the host's net namespace */
};

int linux_network_mode_parse(const char *name, enum linux_network_mode *out);
const char *linux_network_mode_name(enum linux_network_mode mode);

/* Unshares mount, UTS, IPC and (unless host networking) net. */
int linux_ns_unshare(enum linux_network_mode network, orch_error *err);

int linux_ns_unshare_cgroup(orch_error *err);

int linux_ns_set_hostname(const char *hostname, orch_error *err);

/* Brings up "lo" in the current net namespace. */
int linux_ns_loopback_up(orch_error *err);

#endif
