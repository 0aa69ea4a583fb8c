/*
 * swapper.c - the swapper object: set-up and teardown, regions, buffers,
 * limits, trim and statistics.  Fault service is in fault.c, eviction in
 * reclaim.c, victim choice in policy_*.c; the lock order and buffer
 * ownership rules are in internal.h, page states in page.h.
 *
 * Threads: one fault thread (uffd messages), one reclaim thread, and the I/O
 * engine's completion thread.  Kernel features are probed once here; every
 * missing feature either has a fallback or a clear error.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hvswap/log.h"
#include "internal.h"

#define DEFAULT_QD 128
#define DEFAULT_BATCH 64
#define NSTAGING 4096
#define NBOUNCE 1024
#define TRIM_STALL_S 10

/* ---- helpers shared with fault.c / reclaim.c ---- */

static struct region *idx_region(struct swapper *s, uint64_t idx)
{
	unsigned int i;

	for (i = 0; i + 1 < s->nr_regions; i++) {
		if (idx < s->regions[i + 1].first)
			break;
	}
	return &s->regions[i];
}

void *page_host(struct swapper *s, uint64_t idx)
{
	struct region *r = idx_region(s, idx);

	return r->host + (idx - r->first) * PAGE_SIZE_4K;
}

uint64_t page_gfn(struct swapper *s, uint64_t idx)
{
	struct region *r = idx_region(s, idx);

	return r->gpa / PAGE_SIZE_4K + (idx - r->first);
}

int addr_to_idx(struct swapper *s, uint64_t addr, uint64_t *idx)
{
	unsigned int i;

	for (i = 0; i < s->nr_regions; i++) {
		struct region *r = &s->regions[i];
		uint64_t base = (uint64_t)(uintptr_t)r->host;

		if (addr >= base && addr - base < r->npages * PAGE_SIZE_4K) {
			*idx = r->first + (addr - base) / PAGE_SIZE_4K;
			return 0;
		}
	}
	return -EFAULT;
}

void swapper_fatal(struct swapper *s, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err("%s", msg);
	if (atomic_exchange(&s->fatal_sent, true))
		return;
	if (s->cfg.fatal)
		s->cfg.fatal(s->cfg.opaque, err, msg);
}

struct swap_dev *slot_dev(struct swapper *s, uint64_t g)
{
	return s->devs[gslot_dev(g)];
}


void resident_inc(struct swapper *s)
{
	uint64_t r = atomic_fetch_add(&s->c.resident, 1) + 1;
	uint64_t m = atomic_load(&s->c.max_resident);

	while (r > m && !atomic_compare_exchange_weak(&s->c.max_resident, &m, r))
		;
}

static bool stage_used(struct swapper *s, uint32_t b)
{
	return s->stage_map[b / 64] & (1ull << (b % 64));
}

int staging_get_run(struct swapper *s, uint32_t n, uint32_t *first)
{
	uint32_t start, i, run = 0, tried;
	int r = -EAGAIN;

	pthread_mutex_lock(&s->buf_lock);
	if (n == 0 || n > s->nstage_free)
		goto out;
	start = s->stage_hint % s->nstaging;
	for (tried = 0; tried < s->nstaging + n; tried++) {
		i = (start + tried) % s->nstaging;
		if (i == 0)
			run = 0;        /* runs do not wrap around */
		if (stage_used(s, i)) {
			run = 0;
			continue;
		}
		if (++run == n) {
			uint32_t b, f = i + 1 - n;

			for (b = f; b <= i; b++)
				s->stage_map[b / 64] |= 1ull << (b % 64);
			s->nstage_free -= n;
			s->stage_hint = i + 1;
			*first = f;
			r = 0;
			break;
		}
	}
out:
	pthread_mutex_unlock(&s->buf_lock);
	return r;
}

void staging_put(struct swapper *s, uint32_t buf)
{
	pthread_mutex_lock(&s->buf_lock);
	s->stage_map[buf / 64] &= ~(1ull << (buf % 64));
	s->nstage_free++;
	pthread_mutex_unlock(&s->buf_lock);
}

/* ---- set-up ---- */

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

static void *map_buffers(uint32_t n)
{
	void *p = mmap(NULL, (size_t)n * PAGE_SIZE_4K, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, (size_t)n * PAGE_SIZE_4K, MADV_NOHUGEPAGE);
	return p;
}

static uint64_t uffd_modes(struct swapper *s)
{
	return UFFDIO_REGISTER_MODE_MISSING |
	       (s->use_wp ? UFFDIO_REGISTER_MODE_WP : 0);
}

static int setup_buffers(struct swapper *s)
{
	uint32_t i;
	int r;

	s->nstaging = s->cfg.staging_pages;
	s->nbounce = NBOUNCE;
	s->staging = map_buffers(s->nstaging);
	s->bounce = map_buffers(s->nbounce);
	s->stage_map = calloc(s->nstaging / 64, sizeof(uint64_t));
	s->stage_owner = calloc(s->nstaging, sizeof(uint32_t));
	s->bounce_free = calloc(s->nbounce, sizeof(uint32_t));
	s->rds = calloc(s->nbounce, sizeof(*s->rds));
	s->pend_cap = 65536;
	s->pending = calloc(s->pend_cap, sizeof(*s->pending));
	if (!s->staging || !s->bounce || !s->stage_map || !s->stage_owner || !s->bounce_free ||
	    !s->rds || !s->pending)
		return -ENOMEM;
	s->nstage_free = s->nstaging;
	for (i = 0; i < s->nbounce; i++)
		s->bounce_free[s->nbounce_free++] = s->nbounce - 1 - i;
	/* Bounce buffers are DMA targets: populate them now, once. */
	memset(s->bounce, 0, (size_t)s->nbounce * PAGE_SIZE_4K);
	/* UFFDIO_MOVE needs its destination registered with the same uffd,
	 * with the same modes (so both VMAs have the same page protection).
	 * Only MOVE fills staging pages; nobody touches an empty one. */
	if (s->use_move) {
		r = uffd_register(s->uffd, s->staging, (uint64_t)s->nstaging *
				  PAGE_SIZE_4K, uffd_modes(s), NULL);
		if (r < 0) {
			log_err("cannot register the staging area: %s", strerror(-r));
			return r;
		}
	}
	return 0;
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
		};

		r = swap_dev_open(&dc, &d);
		if (r < 0) {
			log_err("cannot open swap device %s: %s",
				dc.path ? dc.path : "(temporary file)", strerror(-r));
			return r;
		}
		r = swapper_dev_add(s, d, dc.prio);
		if (r < 0) {
			swap_dev_close(d);
			return r;
		}
	}
	return 0;
}

bool dev_draining(struct swapper *s, unsigned int dev)
{
	bool r;

	pthread_rwlock_rdlock(&s->dev_lock);
	r = s->dev_draining[dev];
	pthread_rwlock_unlock(&s->dev_lock);
	return r;
}

int swapper_create(const struct swapper_config *cfg, struct swapper **out)
{
	struct swapper *s;
	unsigned int i;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->uffd = -1;
	s->stop_efd = -1;
	if (!s->cfg.queue_depth)
		s->cfg.queue_depth = DEFAULT_QD;
	if (!s->cfg.write_batch || s->cfg.write_batch > IO_MAX_IOV)
		s->cfg.write_batch = DEFAULT_BATCH;
	if (!s->cfg.staging_pages)
		s->cfg.staging_pages = NSTAGING;
	if (!s->cfg.io_engine)
		s->cfg.io_engine = "libaio";
	for (i = 0; i < NR_PAGE_LOCKS; i++)
		pthread_mutex_init(&s->locks[i], NULL);
	pthread_mutex_init(&s->buf_lock, NULL);
	pthread_mutex_init(&s->rmap_lock, NULL);
	pthread_mutex_init(&s->wbusy_lock, NULL);
	pthread_mutex_init(&s->pin_lock, NULL);
	pthread_mutex_init(&s->mig_op_lock, NULL);
	pthread_rwlock_init(&s->dev_lock, NULL);
	pthread_mutex_init(&s->ra_lock, NULL);
	pthread_mutex_init(&s->rc_lock, NULL);
	pthread_cond_init(&s->rc_cond, NULL);
	pthread_cond_init(&s->rc_done, NULL);
	hist_init(&s->fault_lat);
	hist_init(&s->swapin_lat);
	hist_init(&s->read_lat);
	hist_init(&s->write_lat);
	s->io = cfg->engine;

	if (s->cfg.staging_pages % 64 || s->cfg.staging_pages < 2 * s->cfg.write_batch ||
	    s->cfg.staging_pages > PG_MAX_BUF) {
		log_err("staging_pages %u: must be a multiple of 64, at least twice "
			"the write batch (%u) and at most %u", s->cfg.staging_pages,
			s->cfg.write_batch, PG_MAX_BUF);
		r = -EINVAL;
		goto fail;
	}
	if (s->cfg.fault_around > 512 ||
	    (s->cfg.fault_around & (s->cfg.fault_around - 1))) {
		log_err("fault_around %u: must be a power of two <= 512",
			s->cfg.fault_around);
		r = -EINVAL;
		goto fail;
	}
	r = probe_features(s);
	if (r < 0)
		goto fail;
	s->uffd = uffd_open(s->caps.features &
			    (UFFD_FEATURE_MOVE | UFFD_FEATURE_PAGEFAULT_FLAG_WP));
	if (s->uffd < 0) {
		r = s->uffd;
		log_err("cannot open userfaultfd: %s", strerror(-r));
		goto fail;
	}
	s->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stop_efd < 0) {
		r = -errno;
		goto fail;
	}
	r = setup_buffers(s);
	if (r < 0)
		goto fail;
	r = open_devices(s);
	if (r < 0)
		goto fail;
	if (!s->io) {
		struct io_thread_hook hook = { s->cfg.thread_start, s->cfg.opaque };

		r = io_engine_create_hooked(s->cfg.io_engine, s->cfg.queue_depth,
					    &hook, &s->io);
		if (r < 0) {
			log_err("cannot create I/O engine '%s': %s (built in: %s)",
				s->cfg.io_engine, strerror(-r), io_engine_names());
			goto fail;
		}
	}
	s->pol = &policy_clock_ops;
	r = s->pol->init(s, &s->pol_state);
	if (r < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	swapper_destroy(s);
	return r;
}

int swapper_add_region(struct swapper *s, struct gmem *m, uint64_t gpa)
{
	uint64_t np = m->size / PAGE_SIZE_4K, ioctls = 0, need;
	_Atomic uint64_t *pages;
	struct region *rg;
	int r;

	if (s->threads_started || s->nr_regions == SWAPPER_MAX_REGIONS)
		return -EBUSY;
	if (m->backing != GMEM_ANON) {
		log_err("the swapper supports anonymous guest memory only "
			"(--mem-backing %s cannot be swapped yet)",
			gmem_backing_name(m->backing));
		return -ENOTSUP;
	}
	if (s->npages + np >= 0xfffffff0ull)     /* rmap stores u32 indices */
		return -E2BIG;
	r = uffd_register(s->uffd, m->host, m->size, uffd_modes(s), &ioctls);
	if (r < 0) {
		log_err("cannot register guest memory with userfaultfd: %s", strerror(-r));
		return r;
	}
	need = (1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_ZEROPAGE) | (1ull << _UFFDIO_WAKE);
	if (s->use_wp)
		need |= 1ull << _UFFDIO_WRITEPROTECT;
	if (s->use_move)
		need |= 1ull << _UFFDIO_MOVE;
	if ((ioctls & need) != need) {
		log_err("userfaultfd lacks ioctls 0x%llx on guest memory",
			(unsigned long long)(need & ~ioctls));
		return -ENOTSUP;
	}
	pages = realloc((void *)s->pages, (s->npages + np) * sizeof(*pages));
	if (!pages)
		return -ENOMEM;
	memset((void *)(pages + s->npages), 0, np * sizeof(*pages));
	s->pages = pages;
	rg = &s->regions[s->nr_regions++];
	rg->mem = m;
	rg->host = m->host;
	rg->gpa = gpa;
	rg->npages = np;
	rg->first = s->npages;
	s->npages += np;
	return 0;
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

int swapper_start(struct swapper *s)
{
	int r;

	if (s->threads_started)
		return 0;
	if (!s->nr_regions)
		return -EINVAL;
	swapper_set_limit(s, s->cfg.mem_limit);
	s->pin_longterm_max = s->cfg.max_longterm_pin_bytes ?
		s->cfg.max_longterm_pin_bytes / PAGE_SIZE_4K : s->npages / 4;
	r = pthread_create(&s->fault_thread, NULL, fault_thread_start, s);
	if (r)
		return -r;
	r = pthread_create(&s->reclaim_thread, NULL, reclaim_thread_start, s);
	if (r) {
		uint64_t one = 1;

		if (write(s->stop_efd, &one, sizeof(one)) < 0)
			log_err("cannot stop the fault thread");
		pthread_join(s->fault_thread, NULL);
		return -r;
	}
	s->threads_started = true;
	return 0;
}

static void stop_threads(struct swapper *s)
{
	uint64_t one = 1;

	if (!s->threads_started)
		return;
	pthread_mutex_lock(&s->rc_lock);
	s->rc_stop = true;
	pthread_cond_broadcast(&s->rc_cond);
	pthread_cond_broadcast(&s->rc_done);
	pthread_mutex_unlock(&s->rc_lock);
	pthread_join(s->reclaim_thread, NULL);
	if (write(s->stop_efd, &one, sizeof(one)) < 0)
		log_err("cannot wake the fault thread: %s", strerror(errno));
	pthread_join(s->fault_thread, NULL);
	s->threads_started = false;
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
	if (s->stop_efd >= 0)
		close(s->stop_efd);
	for (i = 0; i < SWAPPER_MAX_DEVS; i++) {
		rmap_dev_fini(s, i);
		if (s->devs[i])
			swap_dev_close(s->devs[i]);
	}
	if (s->pol && s->pol_state)
		s->pol->fini(s->pol_state);
	if (s->staging)
		munmap(s->staging, (size_t)s->nstaging * PAGE_SIZE_4K);
	if (s->bounce)
		munmap(s->bounce, (size_t)s->nbounce * PAGE_SIZE_4K);
	free(s->stage_map);
	free(s->bounce_free);
	free(s->rds);
	free(s->pending);
	free(s->retry);
	free(s->mig);
	free(s->pins);
	free(s->stage_owner);
	free((void *)s->pages);
	for (i = 0; i < NR_PAGE_LOCKS; i++)
		pthread_mutex_destroy(&s->locks[i]);
	pthread_mutex_destroy(&s->buf_lock);
	pthread_mutex_destroy(&s->rmap_lock);
	pthread_mutex_destroy(&s->wbusy_lock);
	pthread_mutex_destroy(&s->pin_lock);
	pthread_mutex_destroy(&s->mig_op_lock);
	pthread_rwlock_destroy(&s->dev_lock);
	pthread_mutex_destroy(&s->ra_lock);
	pthread_mutex_destroy(&s->rc_lock);
	pthread_cond_destroy(&s->rc_cond);
	pthread_cond_destroy(&s->rc_done);
	free(s);
}

void swapper_cancel(struct swapper *s)
{
	atomic_store(&s->cancelled, true);
	pthread_mutex_lock(&s->rc_lock);
	pthread_cond_broadcast(&s->rc_done);
	pthread_mutex_unlock(&s->rc_lock);
}

void swapper_release_faults(struct swapper *s)
{
	unsigned int i;

	swapper_cancel(s);
	atomic_store(&s->released, true);
	for (i = 0; i < s->nr_regions; i++)
		uffd_unregister(s->uffd, s->regions[i].host,
				s->regions[i].npages * PAGE_SIZE_4K);
}

int swapper_set_limit(struct swapper *s, uint64_t bytes)
{
	uint64_t lim = bytes / PAGE_SIZE_4K, gap;

	if (bytes && lim < 4 * s->cfg.write_batch)
		return -EINVAL;
	gap = lim / 64 > 2 * s->cfg.write_batch ? lim / 64 : 2 * s->cfg.write_batch;
	atomic_store(&s->limit_pages, lim);
	atomic_store(&s->low_wmark, lim ? lim - gap : 0);
	rc_kick(s);
	return 0;
}

/* A stalled trim says what it waits for: the staged pages (state word,
 * staging buffer, slot) and the reclaim thread's queues.  Read without page
 * locks: a diagnostic snapshot. */
static void trim_stall_report(struct swapper *s)
{
	uint64_t i, n = 0;
	uint32_t nmig, nretry;
	bool busy;

	pthread_mutex_lock(&s->rc_lock);
	nmig = s->nmig;
	nretry = s->nretry;
	busy = s->rc_trim;
	pthread_mutex_unlock(&s->rc_lock);
	log_warn("trim: stalled with %llu staged (counter), %llu writes in "
		 "flight, %u migration and %u retry entries queued, reclaim "
		 "thread %s, %llu resident",
		 (unsigned long long)atomic_load(&s->c.staged),
		 (unsigned long long)atomic_load(&s->writes_inflight), nmig, nretry,
		 busy ? "still trimming" : "done trimming",
		 (unsigned long long)atomic_load(&s->c.resident));
	for (i = 0; i < s->npages; i++) {
		uint64_t w = atomic_load(&s->pages[i]);

		if (pg_state(w) != PS_STAGED)
			continue;
		if (n++ < 8)
			log_warn("trim:   staged gfn 0x%llx word 0x%llx buf %u "
				 "(owner idx %u)%s",
				 (unsigned long long)page_gfn(s, i),
				 (unsigned long long)w, pg_buf(w),
				 s->stage_owner[pg_buf(w)],
				 (w & PG_SLOT) ? " with slot" : "");
	}
	log_warn("trim: %llu pages in state STAGED", (unsigned long long)n);
}

int swapper_trim(struct swapper *s)
{
	uint64_t gen;

	pthread_mutex_lock(&s->rc_lock);
	gen = ++s->trim_gen;
	/* Bounded work: what is resident now (a busy guest keeps faulting
	 * pages back; a trim does not chase it). */
	s->trim_budget = atomic_load(&s->c.resident) + 1;
	s->rc_trim = true;
	pthread_cond_broadcast(&s->rc_cond);
	/* staged: a failed write's pages wait for their retry */
	while (!s->rc_stop && !atomic_load(&s->cancelled) &&
	       (s->trim_done_gen < gen || atomic_load(&s->writes_inflight) ||
		atomic_load(&s->c.staged))) {
		/* Progress = any change in what is staged or being written;
		 * give up after TRIM_STALL_S seconds without any. */
		uint64_t mark = atomic_load(&s->c.staged) * 1000003u +
				atomic_load(&s->writes_inflight) +
				atomic_load(&s->c.evict_written) * 7u;
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += TRIM_STALL_S;
		if (pthread_cond_timedwait(&s->rc_done, &s->rc_lock, &ts) == ETIMEDOUT &&
		    mark == atomic_load(&s->c.staged) * 1000003u +
			    atomic_load(&s->writes_inflight) +
			    atomic_load(&s->c.evict_written) * 7u) {
			pthread_mutex_unlock(&s->rc_lock);
			log_warn("trim: no progress for %d s", TRIM_STALL_S);
			trim_stall_report(s);
			return -ETIMEDOUT;
		}
	}
	gen = s->rc_stop || atomic_load(&s->cancelled);
	pthread_mutex_unlock(&s->rc_lock);
	return gen ? -ECANCELED : 0;
}

uint64_t swapper_resident_pages(struct swapper *s)
{
	return atomic_load(&s->c.resident);
}

/* ---- statistics ---- */

static size_t metadata_bytes(struct swapper *s)
{
	size_t b = s->npages * sizeof(uint64_t);
	unsigned int i;

	pthread_rwlock_rdlock(&s->dev_lock);
	for (i = 0; i < SWAPPER_MAX_DEVS; i++) {
		if (s->devs[i])
			b += swap_dev_metadata_bytes(s->devs[i]);
	}
	pthread_rwlock_unlock(&s->dev_lock);
	return b + rmap_bytes(s);
}

#define J_U64(o, k, v) json_object_object_add(o, k, json_object_new_uint64(v))

static struct json_object *counters_json(struct swapper *s)
{
	struct swapper_counters *c = &s->c;
	struct json_object *o = json_object_new_object();
	struct json_object *f = json_object_new_object();
	struct json_object *e = json_object_new_object();

	J_U64(f, "zero", atomic_load(&c->faults_zero));
	J_U64(f, "zero_around", atomic_load(&c->zero_around));
	J_U64(f, "from_swap", atomic_load(&c->faults_swap));
	J_U64(f, "from_staging", atomic_load(&c->faults_staging));
	J_U64(f, "duplicate", atomic_load(&c->faults_dup));
	J_U64(f, "spurious", atomic_load(&c->faults_spurious));
	J_U64(f, "write_protect", atomic_load(&c->faults_wp));
	J_U64(f, "installed_clean", atomic_load(&c->installed_clean));
	J_U64(f, "written_after_clean", atomic_load(&c->written_clean));
	J_U64(f, "queued_for_buffer", atomic_load(&c->faults_pending));
	J_U64(f, "readahead_pages", atomic_load(&c->readahead));
	J_U64(f, "throttled", atomic_load(&c->faults_throttled));
	json_object_object_add(o, "faults", f);
	J_U64(e, "written", atomic_load(&c->evict_written));
	J_U64(e, "clean_dropped", atomic_load(&c->evict_clean));
	J_U64(e, "zero_dropped", atomic_load(&c->evict_zero));
	J_U64(e, "moved_back", atomic_load(&c->evict_moveback));
	json_object_object_add(o, "evictions", e);
	J_U64(o, "bytes_read", atomic_load(&c->bytes_read));
	J_U64(o, "bytes_written", atomic_load(&c->bytes_written));
	J_U64(o, "read_ios", atomic_load(&c->reads));
	J_U64(o, "write_ios", atomic_load(&c->writes));
	J_U64(o, "read_errors", atomic_load(&c->read_errors));
	J_U64(o, "read_retries", atomic_load(&c->read_retries));
	J_U64(o, "write_errors", atomic_load(&c->write_errors));
	J_U64(o, "slots_retired", atomic_load(&c->slots_retired));
	J_U64(o, "swap_full_events", atomic_load(&c->swap_full_events));
	J_U64(o, "resident_pages", atomic_load(&c->resident));
	J_U64(o, "staged_pages", atomic_load(&c->staged));
	J_U64(o, "max_resident_pages", atomic_load(&c->max_resident));
	J_U64(o, "pin_calls", atomic_load(&c->pins));
	J_U64(o, "pages_migrated", atomic_load(&c->migrated));
	return o;
}

/* Pages by state, read without locks (a snapshot; cross-checks the
 * counters, which are kept incrementally). */
static struct json_object *census_json(struct swapper *s)
{
	static const char *const names[] = { "none", "resident", "zero", "staged",
					      "swapped", "reading" };
	uint64_t n[8] = { 0 }, pinned = 0, i;
	struct json_object *o = json_object_new_object();
	unsigned int k;

	for (i = 0; i < s->npages; i++) {
		uint64_t w = atomic_load(&s->pages[i]);

		n[pg_state(w)]++;
		pinned += !!(w & PG_PINNED);
	}
	for (k = 0; k < 6; k++)
		J_U64(o, names[k], n[k]);
	J_U64(o, "pinned", pinned);
	return o;
}

struct json_object *swapper_stats_json(struct swapper *s)
{
	struct json_object *o = counters_json(s);
	struct json_object *devs = json_object_new_array();
	struct json_object *feat = json_object_new_object();
	uint64_t used = 0;
	unsigned int i;

	pthread_rwlock_rdlock(&s->dev_lock);
	for (i = 0; i < SWAPPER_MAX_DEVS; i++) {
		struct json_object *d;
		struct swap_dev_usage u;

		if (!s->devs[i])
			continue;
		d = json_object_new_object();
		swap_dev_usage(s->devs[i], &u);
		used += u.used;
		json_object_object_add(d, "id", json_object_new_int((int)i));
		json_object_object_add(d, "path", json_object_new_string(swap_dev_path(s->devs[i])));
		json_object_object_add(d, "prio", json_object_new_int(s->dev_prio[i]));
		json_object_object_add(d, "draining", json_object_new_boolean(s->dev_draining[i]));
		J_U64(d, "slots", u.nslots);
		J_U64(d, "used", u.used);
		J_U64(d, "bad", u.bad);
		json_object_array_add(devs, d);
	}
	pthread_rwlock_unlock(&s->dev_lock);
	json_object_object_add(o, "devices", devs);
	J_U64(o, "slots_used", used);
	J_U64(o, "limit_pages", atomic_load(&s->limit_pages));
	J_U64(o, "guest_pages", s->npages);
	J_U64(o, "metadata_bytes", metadata_bytes(s));
	json_object_object_add(o, "metadata_bytes_per_page",
			       json_object_new_double(s->npages ? (double)metadata_bytes(s) /
						      (double)s->npages : 0));
	json_object_object_add(o, "fault_latency", hist_to_json(&s->fault_lat));
	json_object_object_add(o, "swapin_latency", hist_to_json(&s->swapin_lat));
	json_object_object_add(o, "read_latency", hist_to_json(&s->read_lat));
	json_object_object_add(o, "write_latency", hist_to_json(&s->write_lat));
	J_U64(o, "write_busy_ns", write_busy_ns(s));
	json_object_object_add(feat, "uffd_move", json_object_new_boolean(s->use_move));
	json_object_object_add(feat, "uffd_wp", json_object_new_boolean(s->use_wp));
	json_object_object_add(feat, "io_engine", json_object_new_string(s->io->ops->name));
	json_object_object_add(feat, "policy", json_object_new_string(s->pol->name));
	json_object_object_add(o, "features", feat);
	pthread_mutex_lock(&s->pin_lock);
	J_U64(o, "pinned_pages", s->pin_pages);
	J_U64(o, "longterm_pinned_pages", s->pin_longterm_pages);
	J_U64(o, "longterm_pin_limit_pages", s->pin_longterm_max);
	pthread_mutex_unlock(&s->pin_lock);
	json_object_object_add(o, "rmap_complete", json_object_new_boolean(!s->rmap_lost));
	json_object_object_add(o, "page_states", census_json(s));
	return o;
}

void swapper_status_line(struct swapper *s, char *buf, size_t len)
{
	struct swapper_counters *c = &s->c;

	snprintf(buf, len,
		 "swap: resident %llu/%llu pages (max %llu), staged %llu, "
		 "in %llu (zero %llu, staging %llu), out %llu written + %llu clean + "
		 "%llu zero, fault p50 %llu us p99 %llu us",
		 (unsigned long long)atomic_load(&c->resident),
		 (unsigned long long)atomic_load(&s->limit_pages),
		 (unsigned long long)atomic_load(&c->max_resident),
		 (unsigned long long)atomic_load(&c->staged),
		 (unsigned long long)atomic_load(&c->faults_swap),
		 (unsigned long long)atomic_load(&c->faults_zero),
		 (unsigned long long)atomic_load(&c->faults_staging),
		 (unsigned long long)atomic_load(&c->evict_written),
		 (unsigned long long)atomic_load(&c->evict_clean),
		 (unsigned long long)atomic_load(&c->evict_zero),
		 (unsigned long long)hist_percentile(&s->fault_lat, 50) / 1000,
		 (unsigned long long)hist_percentile(&s->fault_lat, 99) / 1000);
}

void swapper_print_features(struct swapper *s, FILE *f)
{
	fprintf(f, "userfaultfd features 0x%llx: move=%s wp=%s; io engine %s\n",
		(unsigned long long)s->caps.features, s->caps.move ? "yes" : "no",
		s->caps.wp ? "yes" : "no", s->io ? s->io->ops->name : "-");
}
