/*
 * numa.c - move resident guest pages to another host NUMA node.
 *
 * move_pages(2) is called directly: it is one system call, and libnuma
 * would add a dependency for a wrapper of it.  The pages are those resident
 * and not pinned at the moment of the scan: a pinned page is never
 * migrated.  A page evicted between the scan and the call is simply
 * reported absent by the kernel (-ENOENT status) and skipped.  The
 * userfaultfd state of a page does not change when its physical page moves.
 *
 * Nothing is locked across the system call (it may sleep); the page words
 * are read without locks as a snapshot.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hvswap/log.h"
#include "internal.h"

#define NUMA_BATCH 1024
#define HV_MPOL_MF_MOVE (1 << 1)

/* Highest possible node + 1, from sysfs ("0" or "0-3"). */
int swapper_numa_nodes(void)
{
	FILE *f = fopen("/sys/devices/system/node/possible", "r");
	int lo = 0, hi = 0, n;

	if (!f)
		return 1;       /* no NUMA support: one node */
	n = fscanf(f, "%d-%d", &lo, &hi);
	fclose(f);
	if (n < 1)
		return 1;
	return (n == 2 ? hi : lo) + 1;
}

/* Node `node` is online (a possible but offline node takes no pages). */
static bool node_online(int node)
{
	char path[64];

	if (access("/sys/devices/system/node", F_OK) < 0)
		return node == 0;       /* no NUMA support: node 0 only */
	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", node);
	return access(path, F_OK) == 0;
}

int64_t swapper_numa_move(struct swapper *s, int node)
{
	void **addr = malloc(NUMA_BATCH * sizeof(*addr));
	int *nodes = malloc(NUMA_BATCH * sizeof(*nodes));
	int *status = malloc(NUMA_BATCH * sizeof(*status));
	int64_t moved = 0;
	uint64_t i = 0;
	unsigned int k;
	long r;

	if (node < 0 || !node_online(node)) {
		moved = -EINVAL;
		goto out;
	}
	if (!addr || !nodes || !status) {
		moved = -ENOMEM;
		goto out;
	}
	while (i < s->npages && !atomic_load(&s->cancelled)) {
		unsigned int n = 0;

		for (; i < s->npages && n < NUMA_BATCH; i++) {
			uint64_t w = atomic_load(&s->pages[i]);

			if (pg_state(w) == PS_RESIDENT && !(w & PG_PINNED)) {
				addr[n] = page_host(s, i);
				nodes[n++] = node;
			}
		}
		if (!n)
			continue;
		r = syscall(SYS_move_pages, 0, (unsigned long)n, addr, nodes,
			    status, HV_MPOL_MF_MOVE);
		if (r < 0) {
			moved = -errno;
			goto out;
		}
		for (k = 0; k < n; k++)
			moved += status[k] == node;
	}
out:
	free(addr);
	free(nodes);
	free(status);
	return moved;
}
