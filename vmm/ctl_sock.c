/*
 * ctl_sock.c - the control socket's life: ctl_open() binds and listens
 * before the guest starts (a bad path is reported first), ctl_serve()
 * starts the server thread (ctl.c) once the VM runs, ctl_stop() stops it,
 * unlinks the socket and frees everything.  Runs on the main thread.
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "hvswap/log.h"
#include "hvswap/swapper.h"
#include "outfile.h"
#include "hvswap/ratelimit.h"
#include "vm.h"

#include "ctl_impl.h"

/* ---- start / stop ---- */

/* A path that exists must be a stale socket (nobody accepting); remove it. */
static int clear_path(const struct sockaddr_un *a, char *err, size_t errlen)
{
	struct stat st;
	int fd, r;

	if (lstat(a->sun_path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		snprintf(err, errlen, "control socket %s: %s", a->sun_path, strerror(errno));
		return r;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "control socket %s: exists and is not a socket",
			 a->sun_path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto sys_err;
	r = connect(fd, (const struct sockaddr *)a, sizeof(*a));
	close(fd);
	if (r == 0) {
		snprintf(err, errlen, "control socket %s: in use by a running process",
			 a->sun_path);
		return -EADDRINUSE;
	}
	if (errno != ECONNREFUSED)
		goto sys_err;
	log_info("ctl: removing stale socket %s", a->sun_path);
	if (unlink(a->sun_path) == 0 || errno == ENOENT)
		return 0;
sys_err:
	r = -errno;
	snprintf(err, errlen, "control socket %s: %s", a->sun_path, strerror(errno));
	return r;
}

static int listen_on(struct ctl *c, char *err, size_t errlen)
{
	struct stat st;
	int r;

	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->lfd < 0)
		goto sys_err;
	/* Linux creates the socket file with the socket inode's mode (less the
	 * umask): 0600 from the start, no window with a looser mode. */
	if (fchmod(c->lfd, 0600) < 0)
		goto sys_err;
	if (bind(c->lfd, (struct sockaddr *)&c->addr, sizeof(c->addr)) < 0)
		goto sys_err;
	if (lstat(c->addr.sun_path, &st) < 0)
		goto sys_err_unlink;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	if ((st.st_mode & 0777) != 0600 && chmod(c->addr.sun_path, 0600) < 0)
		goto sys_err_unlink;
	if (listen(c->lfd, CTL_MAX_CLIENTS) < 0)
		goto sys_err_unlink;
	return 0;
sys_err_unlink:
	r = -errno;
	unlink(c->addr.sun_path);
	errno = -r;
sys_err:
	r = -errno;
	snprintf(err, errlen, "control socket %s: %s", c->addr.sun_path, strerror(errno));
	if (c->lfd >= 0)
		close(c->lfd);
	c->lfd = -1;
	return r;
}

int ctl_open(const char *path, double idle_timeout_s, struct ctl **out,
	     char *err, size_t errlen)
{
	struct ctl *c;
	int i, r;

	*out = NULL;
	if (!*path || strlen(path) >= sizeof(c->addr.sun_path)) {
		snprintf(err, errlen, "control socket path must be 1 to %zu bytes",
			 sizeof(c->addr.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	if (!(idle_timeout_s > 0 && idle_timeout_s <= 1e9)) {
		snprintf(err, errlen, "control socket: idle timeout must be in (0, 1e9] s");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "control socket: out of memory");
		return -ENOMEM;
	}
	c->addr.sun_family = AF_UNIX;
	strcpy(c->addr.sun_path, path);
	c->uid = geteuid();
	c->idle_ns = (uint64_t)(idle_timeout_s * 1e9);
	c->rl = (struct ratelimit)RATELIMIT_INIT(5000, 10);
	for (i = 0; i < CTL_MAX_CLIENTS; i++) {
		c->clients[i].fd = -1;
		c->clients[i].op = -1;
	}
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->efd < 0) {
		r = -errno;
		snprintf(err, errlen, "control socket: eventfd: %s", strerror(errno));
		goto free_ctl;
	}
	r = clear_path(&c->addr, err, errlen);
	if (r < 0)
		goto close_efd;
	r = listen_on(c, err, errlen);
	if (r < 0)
		goto close_efd;
	log_info("ctl: listening on %s", path);
	*out = c;
	return 0;
close_efd:
	close(c->efd);
free_ctl:
	free(c);
	return r;
}

int ctl_serve(struct ctl *c, struct vm *vm)
{
	int r;

	c->vm = vm;
	r = -pthread_create(&c->thread, NULL, ctl_server_main, c);
	if (r == 0)
		c->serving = true;
	return r;
}

void ctl_stop(struct ctl *c)
{
	if (!c)
		return;
	if (c->serving) {
		atomic_store(&c->stop, true);
		ctl_wake(c->efd);
		pthread_join(c->thread, NULL);
	} else {
		close(c->lfd);
		ctl_unlink_ours(c);
	}
	close(c->efd);
	free(c);
}
