/*
 * test_seccomp_profile.c - the seccomp program compiled into the binary is
 * the one the tables of runtime/seccomp_profile.c build now, and a process
 * that loads it gets its verdicts (tests/runtime/test_seccomp.py checks
 * them syscall by syscall inside containers).
 */
#include <errno.h>
#include <linux/filter.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/seccomp_profile.h"

static void test_compiled_in_program_matches_the_tables(void **state)
{
	orch_error err = ORCH_ERROR_INIT;
	int fd = memfd_create("bpf", MFD_CLOEXEC);
	off_t size;
	unsigned char *built;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(seccomp_profile_export_default(fd, &err), 0);
	size = lseek(fd, 0, SEEK_END);
	assert_int_equal(size, (off_t)(seccomp_default_bpf_len * sizeof(struct sock_filter)));
	built = malloc((size_t)size);
	assert_non_null(built);
	assert_int_equal(pread(fd, built, (size_t)size, 0), size);
	assert_memory_equal(built, seccomp_default_bpf, (size_t)size);
	free(built);
	close(fd);
}

/* In a child: loads the filter, then reports what three calls answered. */
static void test_loaded_program_gives_its_verdicts(void **state)
{
	int pipefd[2], status;
	pid_t pid;
	int got[3];

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		orch_error err = ORCH_ERROR_INIT;
		int out[3];

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    seccomp_profile_load_default(&err) < 0)
			_exit(10);
		out[0] = syscall(SYS_getpid) > 0 ? 0 : errno;
		out[1] = syscall(SYS_kcmp, 0, 0, 0, 0, 0) < 0 ? errno : 0;	/* refused */
		out[2] = syscall(1000) < 0 ? errno : 0;			/* newer than the list */
		_exit(write(pipefd[1], out, sizeof(out)) == sizeof(out) ? 0 : 11);
	}
	close(pipefd[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(read(pipefd[0], got, sizeof(got)), (ssize_t)sizeof(got));
	close(pipefd[0]);
	assert_int_equal(got[0], 0);
	assert_int_equal(got[1], EPERM);
	assert_int_equal(got[2], ENOSYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compiled_in_program_matches_the_tables),
		cmocka_unit_test(test_loaded_program_gives_its_verdicts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
