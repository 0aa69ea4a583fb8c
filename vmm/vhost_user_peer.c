/*
 * vhost_user_peer.c - where a vhost-user back-end process mapped a memfd
 * we gave it, read from its /proc/PID/maps (see vhost_user.h).
 *
 * Owns nothing; no locks.  Used once per connection at set-up, because
 * qemu-storage-daemon 7.2 echoes the front-end's addresses in its postcopy
 * SET_MEM_TABLE reply instead of its own (vhost_user_blk.c).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhost_user.h"

/*
 * Where the back-end process mapped our memfd, from /proc/PID/maps (PID by
 * SO_PEERCRED): the mapping of the memfd's inode at file offset 0 and of
 * the region's size.  Returns 0 and *base, or -ENOENT (none, or more than
 * one), or -errno (not allowed to look).  `ours`: our own mapping, skipped
 * when the peer is this process (a back-end thread in the tests).
 */
int vhost_user_peer_mapping(int sock, int memfd, uint64_t size, uint64_t ours,
			    uint64_t *base)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	unsigned long long start, end, off, ino;
	unsigned int found = 0;
	char path[64], line[512];
	struct stat st;
	FILE *f;

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    fstat(memfd, &st) < 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)cred.pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx-%llx %*s %llx %*s %llu", &start, &end, &off,
			   &ino) != 4)
			continue;
		if (cred.pid == getpid() && start == ours)
			continue;
		if (ino == (unsigned long long)st.st_ino && off == 0 && end - start == size &&
		    strstr(line, "memfd:")) {
			*base = start;
			found++;
		}
	}
	fclose(f);
	return found == 1 ? 0 : -ENOENT;
}
