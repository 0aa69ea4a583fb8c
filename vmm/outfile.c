/*
 * outfile.c - the VMM's output boundary: files it writes (--stats) and the
 * JSON it emits (stats files, control-socket replies).
 *
 * Files: outfile_write() never opens the target path, so a symbolic link
 * planted there, or at any temporary name, is never followed.  It makes a
 * fresh file with an unpredictable name in the target's directory
 * (openat(O_CREAT | O_EXCL | O_NOFOLLOW): the mkstemp() rule, on a
 * directory fd so that every step names the same directory), writes it,
 * and renameat()s it over the target: readers see the old or the new
 * content, never a partial one.  A target that exists and is not a regular
 * file (a symbolic link, a device, a directory) is refused.
 *
 * JSON: outfile_json_strict() replaces every non-finite double (NaN, +-Inf:
 * a guest's metrics are arbitrary doubles) by null, because json-c would
 * print them as NaN/Infinity, which is not JSON.
 *
 * Owns nothing between calls; no locks; safe from any thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "outfile.h"

#define TMP_TRIES 64

/* Split path into a directory fd and the last component (into base). */
static int open_parent(const char *path, char *base, size_t baselen)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	size_t n;
	int fd;

	if (!slash) {
		snprintf(dir, sizeof(dir), ".");
		n = strlen(path);
		slash = path - 1;
	} else {
		n = (size_t)(slash - path);
		if (n >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, n);
		dir[n ? n : 1] = '\0';
		if (!n)
			dir[0] = '/';
		n = strlen(slash + 1);
	}
	if (n == 0 || n >= baselen || !strcmp(slash + 1, ".") || !strcmp(slash + 1, ".."))
		return -EISDIR;
	memcpy(base, slash + 1, n + 1);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* A new file ".BASE.XXXXXXXXXXXXXXXX" in dfd, its name in tmp. */
static int create_tmp(int dfd, const char *base, mode_t mode, char *tmp, size_t tmplen)
{
	unsigned long long rnd;
	struct timespec ts;
	int i, fd;

	for (i = 0; i < TMP_TRIES; i++) {
		if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd)) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			rnd = ((unsigned long long)ts.tv_nsec << 20) ^ (unsigned long long)getpid() ^
			      ((unsigned long long)i << 50);
		}
		if ((size_t)snprintf(tmp, tmplen, ".%.200s.%016llx", base, rnd) >= tmplen)
			return -ENAMETOOLONG;
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    mode);
		if (fd >= 0 || errno != EEXIST)
			return fd < 0 ? -errno : fd;
	}
	return -EEXIST;
}

static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The target may be absent or a regular file; anything else is refused. */
static int check_target(int dfd, const char *base, const char *path, char *err,
			size_t errlen)
{
	struct stat st;

	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISREG(st.st_mode))
		return 0;
	snprintf(err, errlen, "cannot write %s: it is %s, not a regular file", path,
		 S_ISLNK(st.st_mode) ? "a symbolic link" :
		 S_ISDIR(st.st_mode) ? "a directory" : "a special file");
	return S_ISDIR(st.st_mode) ? -EISDIR : -EEXIST;
}

int outfile_write(const char *path, const void *buf, size_t len, mode_t mode,
		  char *err, size_t errlen)
{
	char base[256], tmp[300];
	int dfd, fd, r;

	err[0] = '\0';
	dfd = open_parent(path, base, sizeof(base));
	if (dfd < 0) {
		r = dfd;
		goto fail;
	}
	r = check_target(dfd, base, path, err, errlen);
	if (r < 0)
		goto close_dir;
	fd = create_tmp(dfd, base, mode, tmp, sizeof(tmp));
	if (fd < 0) {
		r = fd;
		goto close_dir;
	}
	r = write_all(fd, buf, len);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(dfd, tmp, dfd, base) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(dfd, tmp, 0);
close_dir:
	close(dfd);
fail:
	if (r < 0 && !err[0])
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-r));
	return r;
}

/* Replace non-finite doubles in o's children; returns how many. */
unsigned int outfile_json_strict(struct json_object *o)
{
	unsigned int n = 0;
	size_t i, len;

	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, key, val) {
			if (json_object_is_type(val, json_type_double) &&
			    !isfinite(json_object_get_double(val))) {
				/* Replacing a value in place keeps the
				 * iteration valid (the entry stays). */
				json_object_object_add(o, key, NULL);
				n++;
			} else {
				n += outfile_json_strict(val);
			}
		}
	} else if (json_object_is_type(o, json_type_array)) {
		len = json_object_array_length(o);
		for (i = 0; i < len; i++) {
			struct json_object *v = json_object_array_get_idx(o, i);

			if (json_object_is_type(v, json_type_double) &&
			    !isfinite(json_object_get_double(v))) {
				json_object_array_put_idx(o, i, NULL);
				n++;
			} else {
				n += outfile_json_strict(v);
			}
		}
	}
	return n;
}

int outfile_write_json(const char *path, struct json_object *o, char *err,
		       size_t errlen)
{
	const char *s;

	outfile_json_strict(o);
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
					   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s) {
		snprintf(err, errlen, "cannot write %s: out of memory", path);
		return -ENOMEM;
	}
	return outfile_write(path, s, strlen(s), 0644, err, errlen);
}
