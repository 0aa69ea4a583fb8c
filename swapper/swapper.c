/*
 * swapper.c - the swapper object's lifecycle and the public API that is not
 * a subsystem's own: create (probe, buffers, devices, engine, policy),
 * regions, start, cancel/release, destroy, limits and trim.  Statistics are
 * in stats.c; pins, swapon/swapoff/migration and NUMA moves in their own
 * files.  The module map and the lock order are in internal.h.
 *
 * Threads: one fault thread (uffd messages, fault.c), one reclaim thread
 * (reclaim.c), and the I/O engine's completion thread(s).  Kernel features
 * are probed once here; every missing feature has a fallback or a clear
 * error.  Every init has its fini, run in reverse order by
 * swapper_destroy(), which is safe on a partly created swapper.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hvswap/log.h"
#include "hvswap/ratelimit.h"
#include "internal.h"
#include "ztier.h"

#define DEFAULT_QD 128
#define DEFAULT_BATCH 64
#define NSTAGING 4096
#define HUGE_BATCH 8            /* 2 MiB units: 16 MiB per write */
#define HUGE_MIN_LIMIT 8        /* units (16 MiB): room for the watermarks */
#define HUGE_STAGING 64         /* 128 MiB of address space, filled only
				   while units are being written */

static int probe_features(struct swapper *s)
{
	int r = uffd_probe(&s->caps);

	if (r < 0) {
		log_err("userfaultfd is unavailable: %s%s", strerror(-r),
			r == -EPERM ? " (run as root, or set "
			"vm.unprivileged_userfaultfd=1)" : "");
		return r;
	}
	s->use_wp = s->caps.wp && !s->cfg.no_wp;
	s->use_move = s->caps.move && !s->cfg.no_move;
	if (!s->use_move && !s->use_wp) {
		log_err("this kernel has neither UFFDIO_MOVE (Linux >= 6.8) nor "
			"userfaultfd write-protect: pages cannot be evicted safely");
		return -ENOTSUP;
	}
	if (!s->caps.move)
		log_info("kernel lacks UFFDIO_MOVE: evicting with write-protect + copy");
	if (!s->caps.wp)
		log_info("kernel lacks uffd write-protect: every swap-in is treated as dirty");
	return 0;
}

static uint64_t uffd_modes(struct swapper *s)
{
	return UFFDIO_REGISTER_MODE_MISSING |
	       (s->use_wp ? UFFDIO_REGISTER_MODE_WP : 0);
}

/* UFFDIO_MOVE needs its destination registered with the same uffd, with
 * the same modes (so both VMAs have the same page protection). */
static int register_staging(struct swapper *s)
{
	int r;

	if (!s->use_move)
		return 0;
	r = uffd_register(s->uffd, s->staging, (uint64_t)s->nstaging * s->psz,
			  uffd_modes(s), NULL);
	if (r < 0)
		log_err("cannot register the staging area: %s", strerror(-r));
	return r;
}

static int open_devices(struct swapper *s)
{
	unsigned int i, n = s->cfg.nr_devs ? s->cfg.nr_devs : 1;
	struct swap_dev *d;
	int r;

	for (i = 0; i < n; i++) {
		struct swap_dev_config dc = {
			.path = s->cfg.nr_devs ? s->cfg.devs[i].path : NULL,
			.tmpdir = s->cfg.tmpdir,
			.size = s->cfg.nr_devs ? s->cfg.devs[i].size : s->cfg.swap_size,
			.prio = s->cfg.nr_devs ? s->cfg.devs[i].prio : 0,
			.allow_buffered = s->cfg.allow_buffered,
			.force = s->cfg.nr_devs ? s->cfg.devs[i].force : false,
			.slot_shift = s->pshift,
		};

		/* A device has at least two clusters of 256 slots: with 2 MiB
		 * slots a temporary one is 1 GiB at least, whatever the guest */
		if (!dc.path && dc.size < 512 * s->psz && s->pshift > 12)
			dc.size = 512 * s->psz;

		r = swap_dev_open(&dc, &d);
		if (r < 0)
			return r;       /* swap_dev_open() said why, once */
		r = swapset_add(s, d, dc.prio);
		if (r < 0) {
			swap_dev_close(d);
			return r;
		}
	}
	return 0;
}

/* Huge units (hugetlbfs guest memory): what does not apply to them. */
static int check_huge(struct swapper *s)
{
	const char *no = NULL;

	if (!s->cfg.huge_pages)
		return 0;
	if (!s->cfg.write_batch)
		s->cfg.write_batch = HUGE_BATCH;
	if (!s->cfg.staging_pages)
		s->cfg.staging_pages = HUGE_STAGING;
	s->cfg.fault_around = 0;        /* a unit is 2 MiB already */
	if (s->cfg.mem_limit && s->cfg.mem_limit < HUGE_MIN_LIMIT * (2ull << 20)) {
		log_err("a resident limit of huge-page guest memory must be at "
			"least %u MiB", HUGE_MIN_LIMIT * 2);
		return -EINVAL;
	}
	if (s->cfg.ztier && *s->cfg.ztier && strcmp(s->cfg.ztier, "off"))
		no = "the compressed tier (--ztier)";
	else if (s->cfg.policy == SWAPPER_POLICY_CLOCK_DIRTY)
		no = "the dirty-log policy (--policy clock-dirty)";
	else if (s->cfg.policy == SWAPPER_POLICY_ARCW_DIRTY)
		no = "the dirty-log policy (--policy arcw-dirty)";
	if (no) {
		log_err("huge-page guest memory cannot be swapped with %s: it "
			"works on 4 KiB pages", no);
		return -ENOTSUP;
	}
	return 0;
}

static int check_config(struct swapper *s)
{
	int r = check_huge(s);

	if (r < 0)
		return r;
	if (!s->cfg.queue_depth)
		s->cfg.queue_depth = DEFAULT_QD;
	if (!s->cfg.write_batch || s->cfg.write_batch > IO_MAX_IOV)
		s->cfg.write_batch = DEFAULT_BATCH;
	if (!s->cfg.staging_pages)
		s->cfg.staging_pages = NSTAGING;
	if (!s->cfg.io_engine)
		s->cfg.io_engine = "libaio";
	if (s->cfg.staging_pages % 64 || s->cfg.staging_pages < 2 * s->cfg.write_batch ||
	    s->cfg.staging_pages > PG_MAX_BUF) {
		log_err("staging_pages %u: must be a multiple of 64, at least twice "
			"the write batch (%u) and at most %u", s->cfg.staging_pages,
			s->cfg.write_batch, PG_MAX_BUF);
		return -EINVAL;
	}
	if (s->cfg.fault_around > 512 ||
	    (s->cfg.fault_around & (s->cfg.fault_around - 1))) {
		log_err("fault_around %u: must be a power of two <= 512",
			s->cfg.fault_around);
		return -EINVAL;
	}
	return 0;
}

/* Locks and conditions of every module (before anything can fail). */
static void init_locks(struct swapper *s)
{
	page_init_locks(s);
	core_init(s);
	migrate_init(s);
	pthread_mutex_init(&s->rmap_lock, NULL);
	pthread_mutex_init(&s->wb_lock, NULL);
	pthread_mutex_init(&s->wbusy_lock, NULL);
	pthread_mutex_init(&s->pin_lock, NULL);
	pthread_mutex_init(&s->rc_lock, NULL);
	pthread_rwlock_init(&s->dev_lock, NULL);
	hist_init(&s->fault_lat);
	hist_init(&s->swapin_lat);
	hist_init(&s->read_lat);
	hist_init(&s->write_lat);
	s->wb_warn = (struct ratelimit)RATELIMIT_INIT(5000, 5);
	hist_init(&s->part_queue);
	hist_init(&s->part_device);
	hist_init(&s->part_install);
}

static int create_engine(struct swapper *s)
{
	int r;

	if (s->io)
		return 0;
	/* Polled: the fault thread runs the completions (fault.c); the sync
	 * engine's worker still has a thread, which gets the hook. */
	r = io_engine_create_ex(s->cfg.io_engine, s->cfg.queue_depth,
				IO_ENGINE_POLLED,
				&(struct io_thread_hook){ s->cfg.thread_start,
							  s->cfg.opaque },
				&s->io);
	if (r < 0)
		log_err("cannot create I/O engine '%s': %s (built in: %s)",
			s->cfg.io_engine, strerror(-r), io_engine_names());
	return r;
}

static int open_uffd(struct swapper *s)
{
	s->uffd = uffd_open(s->caps.features &
			    (UFFD_FEATURE_MOVE | UFFD_FEATURE_PAGEFAULT_FLAG_WP));
	if (s->uffd < 0) {
		log_err("cannot open userfaultfd: %s", strerror(-s->uffd));
		return s->uffd;
	}
	s->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return s->stop_efd < 0 ? -errno : 0;
}

int swapper_create(const struct swapper_config *cfg, struct swapper **out)
{
	struct swapper *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->pshift = cfg->huge_pages ? 21 : 12;
	s->psz = 1ull << s->pshift;
	s->uffd = -1;
	s->stop_efd = -1;
	s->io = cfg->engine;
	init_locks(s);
	r = check_config(s);
	if (r < 0)
		goto fail;
	r = probe_features(s);
	if (r < 0)
		goto fail;
	r = open_uffd(s);
	if (r < 0)
		goto fail;
	r = buf_init(s);
	if (r == 0 && s->cfg.huge_pages) {
		s->zero_unit = mmap(NULL, s->psz, PROT_READ, MAP_PRIVATE |
				    MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (s->zero_unit == MAP_FAILED) {
			s->zero_unit = NULL;
			r = -ENOMEM;
		}
	}
	if (r == 0)
		r = swapin_init(s);
	if (r == 0)
		r = register_staging(s);
	if (r == 0)
		r = open_devices(s);
	if (r == 0)
		r = create_engine(s);
	if (r == 0)
		r = ztier_create(s);
	if (r < 0)
		goto fail;
	switch (s->cfg.policy) {
	case SWAPPER_POLICY_CLOCK_DIRTY: s->pol = &policy_clock_dirty_ops; break;
	case SWAPPER_POLICY_ARCW: s->pol = &policy_arcw_ops; break;
	case SWAPPER_POLICY_ARCW_DIRTY: s->pol = &policy_arcw_dirty_ops; break;
	default: s->pol = &policy_clock_ops; break;
	}
	r = s->pol->init(s, &s->pol_state);
	if (r == -EINVAL)
		log_err("policy %s needs the guest's dirty log (a VMM with KVM)",
			s->pol->name);
	if (r < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	swapper_destroy(s);
	return r;
}

static int check_region_ioctls(struct swapper *s, uint64_t ioctls, bool minor)
{
	uint64_t need = (1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_WAKE);

	if (!s->zero_unit)      /* hugetlbfs has none: zeros are copied */
		need |= 1ull << _UFFDIO_ZEROPAGE;
	if (minor)
		need |= 1ull << _UFFDIO_CONTINUE;
	if (s->use_wp)
		need |= 1ull << _UFFDIO_WRITEPROTECT;
	if (s->use_move)
		need |= 1ull << _UFFDIO_MOVE;
	if ((ioctls & need) != need) {
		log_err("userfaultfd lacks ioctls 0x%llx on guest memory",
			(unsigned long long)(need & ~ioctls));
		return -ENOTSUP;
	}
	return 0;
}

/*
 * memfd (shmem) guest memory, probed once per region: MISSING faults on
 * shmem (UFFD_FEATURE_MISSING_SHMEM) and write-protect on shmem
 * (UFFD_FEATURE_WP_HUGETLBFS_SHMEM) are required.  UFFDIO_MOVE works on
 * anonymous private memory only, so eviction takes the write-protect + copy
 * + drop path for every region (page_drop() punches the hole); without
 * write-protect on shmem that path cannot stop a racing guest write from
 * landing between the copy and the drop, so the region is refused rather
 * than swapped unsafely.
 */
static int memfd_region_setup(struct swapper *s, struct gmem *m, uint8_t **alias)
{
	if (!s->caps.shmem) {
		log_err("this kernel's userfaultfd cannot serve faults on shmem "
			"(no UFFD_FEATURE_MISSING_SHMEM): --mem-backing memfd "
			"cannot be swapped; use --mem-backing anon");
		return -ENOTSUP;
	}
	if (!s->caps.wp_shmem || s->cfg.no_wp) {
		log_err("%s: --mem-backing memfd cannot be evicted safely "
			"(UFFDIO_MOVE does not work on shmem); use --mem-backing anon",
			s->cfg.no_wp ? "write-protect is switched off (no_wp)" :
			"this kernel lacks userfaultfd write-protect on shmem "
			"(UFFD_FEATURE_WP_HUGETLBFS_SHMEM, Linux >= 5.19)");
		return -ENOTSUP;
	}
	if (s->use_move) {
		/* The staging area was registered for UFFDIO_MOVE only; the
		 * copy path writes it with memcpy, which must not fault. */
		uffd_unregister(s->uffd, s->staging,
				(uint64_t)s->nstaging * s->psz);
		s->use_move = false;
		log_info("memfd guest memory: evicting by write-protect, copy "
			 "and hole punch (UFFDIO_MOVE works on anonymous memory only)");
	}
	s->nr_memfd++;
	if (!s->caps.minor_shmem || s->cfg.no_zero_copy)
		return 0;
	/* Zero-copy swap-in: reads land in the memfd through this mapping,
	 * which is not registered (touching it never faults to us); the
	 * guest's mapping is registered in MINOR mode too, so a guest access
	 * to a page being read waits instead of seeing it half read. */
	*alias = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, m->memfd, 0);
	if (*alias == MAP_FAILED) {
		*alias = NULL;
		return 0;       /* swap through bounce buffers */
	}
	madvise(*alias, m->size, MADV_NOHUGEPAGE);
	s->nr_zero_copy++;
	return 0;
}

/* A hugetlbfs or THP region needs a swapper of huge units, and only it. */
static int huge_region_check(struct swapper *s, const struct gmem *m, uint64_t gpa)
{
	bool huge = m->backing == GMEM_HUGETLB || m->backing == GMEM_THP;

	if (huge != s->cfg.huge_pages) {
		log_err("%s guest memory needs a swapper %s huge units "
			"(swapper_config.huge_pages)", gmem_backing_name(m->backing),
			s->cfg.huge_pages ? "without" : "with");
		return -EINVAL;
	}
	if (s->cfg.huge_pages && (gpa % s->psz || m->size % s->psz ||
				  (uintptr_t)m->host % s->psz))
		return -EINVAL;
	return 0;
}

/*
 * hugetlbfs guest memory: faults arrive per 2 MiB, UFFDIO_COPY fills a whole
 * 2 MiB page, and UFFDIO_MOVE does not work on it, so eviction takes the
 * write-protect + copy + hole-punch path (as memfd) and needs uffd-wp on
 * hugetlbfs (UFFD_FEATURE_WP_HUGETLBFS_SHMEM).  Swap-in goes through bounce
 * buffers (no zero-copy MINOR path for hugetlbfs yet).
 */
static int hugetlb_region_setup(struct swapper *s)
{
	if (s->thp) {
		log_err("thp and hugetlb guest memory cannot be swapped by one swapper");
		return -ENOTSUP;
	}
	if (!s->caps.hugetlb || !s->caps.wp_shmem || s->cfg.no_wp) {
		log_err("%s: hugetlb guest memory cannot be swapped; use "
			"--mem-backing anon or memfd",
			!s->caps.hugetlb ? "this kernel's userfaultfd cannot serve "
			"faults on hugetlbfs (no UFFD_FEATURE_MISSING_HUGETLBFS)" :
			s->cfg.no_wp ? "write-protect is switched off (no_wp)" :
			"this kernel lacks userfaultfd write-protect on hugetlbfs "
			"(UFFD_FEATURE_WP_HUGETLBFS_SHMEM, Linux >= 5.19)");
		return -ENOTSUP;
	}
	if (s->use_move) {
		uffd_unregister(s->uffd, s->staging,
				(uint64_t)s->nstaging * s->psz);
		s->use_move = false;
	}
	s->nr_memfd++;  /* drops are hole punches, as for memfd (page_drop) */
	return 0;
}

int swapper_add_region(struct swapper *s, struct gmem *m, uint64_t gpa)
{
	uint64_t np = m->size / s->psz, ioctls = 0, modes = uffd_modes(s);
	_Atomic uint64_t *pages;
	uint8_t *alias = NULL;
	struct region *rg;
	int r;

	if (s->threads_started || s->nr_regions == SWAPPER_MAX_REGIONS)
		return -EBUSY;
	r = huge_region_check(s, m, gpa);
	if (r < 0)
		return r;
	if (m->backing == GMEM_HUGETLB) {
		r = hugetlb_region_setup(s);
		if (r < 0)
			return r;
	} else if (m->backing == GMEM_THP) {
		r = thp_region_setup(s);        /* thp.c */
		if (r < 0)
			return r;
	} else if (m->backing == GMEM_MEMFD) {
		r = memfd_region_setup(s, m, &alias);
		if (r < 0)
			return r;
		if (alias)
			modes |= UFFDIO_REGISTER_MODE_MINOR;
	} else if (m->backing != GMEM_ANON) {
		log_err("the swapper cannot swap --mem-backing %s memory",
			gmem_backing_name(m->backing));
		return -ENOTSUP;
	}
	if (s->npages + np >= 0xfffffff0ull) {  /* rmap stores u32 indices */
		r = -E2BIG;
		goto err_alias;
	}
	r = uffd_register(s->uffd, m->host, m->size, modes, &ioctls);
	if (r < 0) {
		log_err("cannot register guest memory with userfaultfd: %s", strerror(-r));
		goto err_alias;
	}
	r = check_region_ioctls(s, ioctls, alias != NULL);
	if (r < 0)
		goto err_alias;
	if (s->pol->grow) {     /* the policy's per-page state (policy_arcw.c) */
		r = s->pol->grow(s, s->pol_state, s->npages + np);
		if (r < 0)
			goto err_alias;
	}
	pages = realloc((void *)s->pages, (s->npages + np) * sizeof(*pages));
	if (!pages) {
		r = -ENOMEM;
		goto err_alias;
	}
	memset((void *)(pages + s->npages), 0, np * sizeof(*pages));
	s->pages = pages;
	rg = &s->regions[s->nr_regions++];
	*rg = (struct region){ .mem = m, .host = m->host, .gpa = gpa, .npages = np,
			       .first = s->npages, .alias = alias };
	s->npages += np;
	return 0;

err_alias:
	if (alias) {
		munmap(alias, m->size);
		s->nr_zero_copy--;
	}
	return r;
}

/* Trampolines: the embedder's thread_start hook, then the thread's main. */
static void *fault_thread_start(void *arg)
{
	struct swapper *s = arg;

	if (s->cfg.thread_start)
		s->cfg.thread_start(s->cfg.opaque, "fault");
	return fault_thread_main(s);
}

static void *reclaim_thread_start(void *arg)
{
	struct swapper *s = arg;

	if (s->cfg.thread_start)
		s->cfg.thread_start(s->cfg.opaque, "reclaim");
	return reclaim_thread_main(s);
}

static void wake_fault_thread(struct swapper *s)
{
	uint64_t one = 1;

	if (write(s->stop_efd, &one, sizeof(one)) < 0)
		log_err("cannot wake the fault thread: %s", strerror(errno));
}

int swapper_start(struct swapper *s)
{
	int r;

	if (s->threads_started)
		return 0;
	if (!s->nr_regions)
		return -EINVAL;
	reclaim_set_limit(s, s->cfg.mem_limit / s->psz);
	s->pin_longterm_max = s->cfg.max_longterm_pin_bytes ?
		s->cfg.max_longterm_pin_bytes / s->psz : s->npages / 4;
	r = pthread_create(&s->fault_thread, NULL, fault_thread_start, s);
	if (r)
		return -r;
	r = pthread_create(&s->reclaim_thread, NULL, reclaim_thread_start, s);
	if (r) {
		wake_fault_thread(s);
		pthread_join(s->fault_thread, NULL);
		return -r;
	}
	s->threads_started = true;
	return 0;
}

static void stop_threads(struct swapper *s)
{
	if (!s->threads_started)
		return;
	core_stop_reclaim(s);
	pthread_join(s->reclaim_thread, NULL);
	atomic_store(&s->fault_stop, true);
	wake_fault_thread(s);
	pthread_join(s->fault_thread, NULL);
	s->threads_started = false;
}

static void destroy_locks(struct swapper *s)
{
	page_fini_locks(s);
	migrate_fini(s);
	pthread_mutex_destroy(&s->rmap_lock);
	pthread_mutex_destroy(&s->wb_lock);
	pthread_mutex_destroy(&s->wbusy_lock);
	pthread_mutex_destroy(&s->pin_lock);
	pthread_mutex_destroy(&s->rc_lock);
	pthread_rwlock_destroy(&s->dev_lock);
	core_fini(s);
}

void swapper_destroy(struct swapper *s)
{
	unsigned int i;

	if (!s)
		return;
	atomic_store(&s->cancelled, true);
	atomic_store(&s->closing, true);
	stop_threads(s);
	/* Waits for every accepted request's completion; completions do not
	 * submit new I/O once `closing` is set. */
	if (s->io)
		io_engine_destroy(s->io);
	if (s->uffd >= 0)
		close(s->uffd);
	for (i = 0; i < s->nr_regions; i++) {
		if (s->regions[i].alias)
			munmap(s->regions[i].alias, s->regions[i].npages * s->psz);
	}
	if (s->stop_efd >= 0)
		close(s->stop_efd);
	swapset_close_all(s);
	if (s->pol && s->pol_state)
		s->pol->fini(s->pol_state);
	wb_fini(s);
	ztier_destroy(s);
	free(s->pins);
	if (s->rds)
		swapin_fini(s);
	buf_fini(s);
	if (s->zero_unit)
		munmap(s->zero_unit, s->psz);
	thp_fini(s);
	free((void *)s->pages);
	destroy_locks(s);
	free(s);
}

void swapper_cancel(struct swapper *s)
{
	atomic_store(&s->cancelled, true);
	migrate_cancel(s);
	core_progress(s);       /* trim and migration waits re-check */
}

void swapper_release_faults(struct swapper *s)
{
	unsigned int i;

	swapper_cancel(s);
	atomic_store(&s->released, true);
	for (i = 0; i < s->nr_regions; i++)
		uffd_unregister(s->uffd, s->regions[i].host,
				s->regions[i].npages * s->psz);
}

uint64_t swapper_resident_bytes(struct swapper *s)
{
	return atomic_load(&s->c.resident) * s->psz;
}

int swapper_set_limit(struct swapper *s, uint64_t bytes)
{
	uint64_t lim = bytes / s->psz;

	if (bytes && lim < (s->pshift > 12 ? HUGE_MIN_LIMIT : 4 * s->cfg.write_batch))
		return -EINVAL;
	reclaim_set_limit(s, lim);
	return 0;
}

int swapper_trim(struct swapper *s)
{
	return reclaim_trim(s);
}
