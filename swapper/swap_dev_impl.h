/*
 * swap_dev_impl.h - the swap device object, shared by swap_dev.c (slot
 * allocator, opening) and swap_target.c (what a target carries: signatures,
 * hvswap's header, preallocation).  Private to those two files.
 */
#ifndef HVSWAP_SWAPPER_SWAP_DEV_IMPL_H
#define HVSWAP_SWAPPER_SWAP_DEV_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "swap_dev.h"

#define HEAD_LEN (68u * 1024)    /* covers btrfs' superblock at 64 KiB */

struct cluster {
	uint16_t inuse;            /* protected by lock */
	uint16_t on_list;          /* protected by lock */
	uint32_t next;             /* free-list link, protected by lock */
};

struct swap_dev {
	int fd;
	int prio;
	bool direct;
	bool has_hdr;              /* we wrote a header into slot 0 */
	char *path;
	dev_t st_dev, st_rdev;
	ino_t st_ino;
	struct swap_dev_hdr hdr;   /* ours, as written */
	uint64_t nslots;
	uint64_t slot_size;        /* SWAP_SLOT_SIZE, or 2 MiB (slot_shift) */
	uint32_t nclusters;
	pthread_mutex_t lock;
	uint8_t **cmap;            /* per cluster: its slots' counts, NULL
				      while all are free; protected by lock */
	uint32_t ncmaps;           /* cmap[] entries allocated; lock */
	struct cluster *cl;        /* protected by lock */
	uint32_t free_head, free_tail; /* protected by lock */
	uint32_t cur, cur_next;    /* protected by lock */
	uint32_t scan;             /* next-fit cursor of the scan, protected by lock */
	uint64_t used, bad;        /* protected by lock */
};

/* swap_target.c */
int swap_target_check(struct swap_dev *d, const struct swap_dev_config *cfg);
void swap_target_hdr_fill(struct swap_dev *d);
int swap_target_hdr_write(struct swap_dev *d, uint32_t state);
void swap_target_log_nospace(int fd, const char *what, uint64_t size);
int swap_target_prealloc(int fd, const char *what, uint64_t size, uint64_t had);

#endif
