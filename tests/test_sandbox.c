/*
 * test_sandbox.c - the per-thread seccomp filters (vmm/sandbox.c).
 *
 * Each case forks a child that installs one kind's filter and then makes a
 * call; the parent checks how the child ended: a forbidden call (execve,
 * socket, fork, ptrace, TIOCSTI) kills it with SIGSYS after
 * one line on stderr naming the call; allowed work (malloc, threads where
 * the kind may create them, KVM-family ioctls, signals to itself) lets it
 * exit 0; open() on a data-path thread fails with EACCES.  Skipped (77) in sanitizer builds, where hvswap runs unfiltered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"

enum act { A_EXECVE, A_SOCKET, A_FORK, A_PTRACE, A_OPEN, A_TIOCSTI, A_WORK,
	   A_THREAD };

static void *thread_fn(void *arg)
{
	return arg;
}

/* In the child, after the filter: returns only when the call was allowed. */
static int act(enum act a)
{
	char *argv[] = { "/bin/true", NULL };
	pthread_t t;
	void *p;
	char c = 'x';

	switch (a) {
	case A_EXECVE:
		execve("/bin/true", argv, NULL);
		return 3;
	case A_SOCKET:
		return socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 3 : 4;
	case A_FORK:
		return fork() >= 0 ? 3 : 4;
	case A_PTRACE:
		return ptrace(PTRACE_TRACEME, 0, NULL, NULL) >= 0 ? 3 : 4;
	case A_OPEN:
		return open("/etc/hostname", O_RDONLY) >= 0 ? 3 : 4;
	case A_TIOCSTI:
		return ioctl(0, TIOCSTI, &c) >= 0 ? 3 : 4;
	case A_WORK:
		p = malloc(64 << 20);           /* mmap */
		if (!p)
			return 5;
		memset(p, 1, 4096);
		free(p);
		if (write(STDOUT_FILENO, "", 0) < 0 || getpid() <= 0)
			return 6;
		if (pthread_kill(pthread_self(), 0) != 0)  /* tgkill */
			return 7;
		return 0;
	case A_THREAD:
		if (pthread_create(&t, NULL, thread_fn, NULL) != 0)
			return 7;
		return pthread_join(t, NULL) == 0 ? 0 : 8;
	}
	return 9;
}

/* Run act() under kind's filter in a child; returns its wait status and
 * leaves its stderr in errbuf. */
static int run(enum sandbox_kind kind, enum act a, char *errbuf, size_t errlen)
{
	int pfd[2], status = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], STDERR_FILENO);
		close(pfd[0]);
		if (sandbox_enter(kind, "hv-test") < 0)
			_exit(2);
		_exit(act(a));
	}
	close(pfd[1]);
	n = read(pfd[0], errbuf, errlen - 1);
	errbuf[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void expect_killed(enum sandbox_kind kind, enum act a, const char *call)
{
	char err[512], want[64];
	int st = run(kind, a, err, sizeof(err));

	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
		fail_msg("%s filter, %s: child not killed by SIGSYS (status 0x%x, "
			 "stderr '%s')", sandbox_kind_name(kind), call ? call : "-", st, err);
	snprintf(want, sizeof(want), "forbidden system call: %s", call ? call : "");
	if (!strstr(err, want) || !strstr(err, "hv-test"))
		fail_msg("%s filter: stderr '%s' lacks '%s'", sandbox_kind_name(kind),
			 err, want);
}

static void expect_exit(enum sandbox_kind kind, enum act a, int code)
{
	char err[512];
	int st = run(kind, a, err, sizeof(err));

	if (!WIFEXITED(st) || WEXITSTATUS(st) != code)
		fail_msg("%s filter: want exit %d, got status 0x%x (stderr '%s')",
			 sandbox_kind_name(kind), code, st, err);
}

static void expect_ok(enum sandbox_kind kind, enum act a)
{
	expect_exit(kind, a, 0);
}

static void test_forbidden_everywhere(void **state)
{
	unsigned int k;

	(void)state;
	for (k = 0; k < SANDBOX_NR_KINDS; k++) {
		expect_killed(k, A_EXECVE, "execve");
		expect_killed(k, A_SOCKET, "socket");
		expect_killed(k, A_PTRACE, "ptrace");
		expect_killed(k, A_TIOCSTI, "ioctl");
	}
	/* fork() is clone() without CLONE_THREAD */
	expect_killed(SANDBOX_CTL, A_FORK, "clone");
	expect_killed(SANDBOX_MAIN, A_FORK, "clone");
}

static void test_data_path_kinds(void **state)
{
	static const enum sandbox_kind narrow[] = {
		SANDBOX_VCPU, SANDBOX_FAULT, SANDBOX_RECLAIM, SANDBOX_IO,
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(narrow) / sizeof(narrow[0]); i++) {
		expect_ok(narrow[i], A_WORK);
		expect_exit(narrow[i], A_OPEN, 4);      /* EACCES, not killed */
		/* pthread_create: the first call it makes that is not allowed
		 * (glibc 2.36: rt_sigaction, then clone3) */
		expect_killed(narrow[i], A_THREAD, NULL);
	}
}

static void test_admin_kinds(void **state)
{
	(void)state;
	expect_ok(SANDBOX_MAIN, A_WORK);
	expect_ok(SANDBOX_CTL, A_THREAD);       /* clone3 -> ENOSYS -> clone */
	expect_ok(SANDBOX_MAIN, A_THREAD);
}

static void test_kind_names(void **state)
{
	enum sandbox_kind k;

	(void)state;
	assert_int_equal(sandbox_kind_parse("vcpu", &k), 0);
	assert_int_equal(k, SANDBOX_VCPU);
	assert_int_equal(sandbox_kind_parse("io", &k), 0);
	assert_int_equal(k, SANDBOX_IO);
	assert_int_equal(sandbox_kind_parse("nope", &k), -EINVAL);
	assert_string_equal(sandbox_kind_name(SANDBOX_RECLAIM), "reclaim");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_forbidden_everywhere),
		cmocka_unit_test(test_data_path_kinds),
		cmocka_unit_test(test_admin_kinds),
	};
	const char *why;

	if (!sandbox_available(&why)) {
		printf("skipped: %s\n", why);
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
