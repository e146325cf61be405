/*
 * linux_ns.c - unsharing the container's namespaces, hostname and loopback.
 * See linux_ns.h.
 */
#include "linux_ns.h"

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"

int linux_network_mode_parse(const char *name, enum linux_network_mode *out)
{
	if (strcmp(name, "none") == 0)
		*out = LINUX_NETWORK_NONE;
	else if (strcmp(name, "host") == 0)
		*out = LINUX_NETWORK_HOST;
	else
		return -1;
	return 0;
}

const char *linux_network_mode_name(enum linux_network_mode mode)
{
	return mode == LINUX_NETWORK_HOST ? "host" : "none";
}

int linux_ns_unshare(enum linux_network_mode network, orch_error *err)
{
	int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;

	if (network != LINUX_NETWORK_HOST)
		flags |= CLONE_NEWNET;
	if (unshare(flags) < 0)
		return orch_fail_errno(err, errno, "creating namespaces");
	return 0;
}

int linux_ns_unshare_cgroup(orch_error *err)
{
	if (unshare(CLONE_NEWCGROUP) < 0)
		return orch_fail_errno(err, errno, "creating the cgroup namespace");
	return 0;
}

int linux_ns_set_hostname(const char *hostname, orch_error *err)
{
	if (sethostname(hostname, strlen(hostname)) < 0)
		return orch_fail_errno(err, errno, "setting hostname '%s'", hostname);
	return 0;
}

int linux_ns_loopback_up(orch_error *err)
{
	cleanup_close int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;

	if (sock < 0)
		return orch_fail_errno(err, errno, "opening a socket for lo");
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		return orch_fail_errno(err, errno, "reading the flags of lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
		return orch_fail_errno(err, errno, "bringing lo up");
	return 0;
}
