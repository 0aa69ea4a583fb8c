/*
 * stats.c - the swapper's statistics: counters, devices, latency
 * histograms, page-state census (swapper_stats_json), the one-line status
 * and the feature line.
 *
 * Owns nothing: it reads counters (atomics), the device table (under
 * dev_lock), the pin totals (under pin_lock) and the page words (without
 * locks: a snapshot that cross-checks the incremental counters).
 * metadata_bytes counts the seal tables too (swapset_metadata_bytes).
 */
#include <json-c/json.h>
#include <stdio.h>

#include "internal.h"
#include "ztier.h"
#include "seal.h"

static size_t metadata_bytes(struct swapper *s)
{
	return s->npages * sizeof(uint64_t) + swapset_metadata_bytes(s) +
	       rmap_bytes(s) + (s->pol->bytes ? s->pol->bytes(s->pol_state) : 0);
}

#define J_U64(o, k, v) json_object_object_add(o, k, json_object_new_uint64(v))

/* swapper_discard() (discard.c): pages the guest gave back. */
static void add_discard(struct json_object *o, struct swapper_counters *c)
{
	struct json_object *d = json_object_new_object();

	J_U64(d, "pages", atomic_load(&c->discarded));
	J_U64(d, "were_resident", atomic_load(&c->discard_resident));
	J_U64(d, "were_swapped", atomic_load(&c->discard_swapped));
	J_U64(d, "busy", atomic_load(&c->discard_busy));
	json_object_object_add(o, "discard", d);
	d = json_object_new_object();   /* swapper_overwrite (discard.c) */
	J_U64(d, "hints", atomic_load(&c->overwrite_hints));
	J_U64(d, "swap_reads_skipped", atomic_load(&c->overwrite_skipped));
	json_object_object_add(o, "overwrite", d);
}

/* Device writes into guest memory (pin.c): swap reads a fill pin skipped
 * (VSwapper's false reads, avoided) and swap reads write pins still made
 * (the device overwrote part of what was read: VSwapper's stale reads). */
static void add_dma_fill(struct json_object *o, struct swapper_counters *c)
{
	struct json_object *d = json_object_new_object();

	J_U64(d, "swap_reads_skipped", atomic_load(&c->fill_reads_skipped));
	J_U64(d, "write_pin_swap_reads", atomic_load(&c->write_pin_reads));
	json_object_object_add(o, "dma_fill", d);
	/* policy clock-dirty (policy_clock.c): KVM dirty-log harvests and the
	 * written pages they marked referenced */
	d = json_object_new_object();
	J_U64(d, "harvests", atomic_load(&c->dirty_harvests));
	J_U64(d, "pages_written", atomic_load(&c->dirty_pages));
	J_U64(d, "errors", atomic_load(&c->dirty_log_errors));
	json_object_object_add(o, "dirty_log", d);
	/* the swap mapper (mirror.c) */
	d = json_object_new_object();
	J_U64(d, "pages_noted", atomic_load(&c->mirror_noted));
	J_U64(d, "dropped_without_write", atomic_load(&c->mirror_dropped));
	J_U64(d, "invalidated", atomic_load(&c->mirror_invalidated));
	J_U64(d, "silent_writes", atomic_load(&c->mirror_silent));
	json_object_object_add(o, "swap_mapper", d);
}

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
	J_U64(f, "minor", atomic_load(&c->faults_minor));
	J_U64(f, "swapin_zero_copy", atomic_load(&c->swapin_zero_copy));
	J_U64(f, "thp_moved_in", atomic_load(&c->thp_moved_in));
	J_U64(f, "write_protect", atomic_load(&c->faults_wp));
	J_U64(f, "installed_clean", atomic_load(&c->installed_clean));
	J_U64(f, "written_after_clean", atomic_load(&c->written_clean));
	J_U64(f, "not_kept_clean_swap_half_full",
	      atomic_load(&c->clean_skipped_swap_full));
	J_U64(f, "queued_for_buffer", atomic_load(&c->faults_pending));
	J_U64(f, "readahead_pages", atomic_load(&c->readahead));
	J_U64(f, "readahead_wasted", atomic_load(&c->readahead_wasted));
	J_U64(f, "readahead_hints", atomic_load(&c->readahead_hints));
	J_U64(f, "throttled", atomic_load(&c->faults_throttled));
	json_object_object_add(o, "faults", f);
	J_U64(e, "written", atomic_load(&c->evict_written));
	J_U64(e, "clean_dropped", atomic_load(&c->evict_clean));
	J_U64(e, "zero_dropped", atomic_load(&c->evict_zero));
	J_U64(e, "moved_back", atomic_load(&c->evict_restored));
	json_object_object_add(o, "evictions", e);
	add_discard(o, c);
	add_dma_fill(o, c);
	J_U64(o, "bytes_read", atomic_load(&c->bytes_read));
	J_U64(o, "bytes_written", atomic_load(&c->bytes_written));
	J_U64(o, "read_ios", atomic_load(&c->read_ios));
	J_U64(o, "pages_read", atomic_load(&c->reads));
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
	J_U64(o, "alloc_failures", atomic_load(&c->alloc_failures));
	J_U64(o, "checksum_errors", atomic_load(&c->checksum_errors));
	J_U64(o, "decrypt_failures", atomic_load(&c->decrypt_failures));
	return o;
}

/* Pages by state, read without locks (a snapshot; cross-checks the
 * counters, which are kept incrementally). */
static struct json_object *census_json(struct swapper *s)
{
	static const char *const names[] = { "none", "resident", "zero", "staged",
					      "swapped", "reading", "zpool" };
	uint64_t n[8] = { 0 }, pinned = 0, i;
	struct json_object *o = json_object_new_object();
	unsigned int k;

	for (i = 0; i < s->npages; i++) {
		uint64_t w = atomic_load(&s->pages[i]);

		n[pg_state(w)]++;
		pinned += pg_has(w, PG_PINNED);
	}
	for (k = 0; k < 7; k++)
		J_U64(o, names[k], n[k]);
	J_U64(o, "pinned", pinned);
	return o;
}

/* A swap-in fault's time in the swapper by part (swapin.c install()). */
static struct json_object *parts_json(struct swapper *s)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "queue", hist_to_json(&s->part_queue));
	json_object_object_add(o, "device", hist_to_json(&s->part_device));
	json_object_object_add(o, "install", hist_to_json(&s->part_install));
	return o;
}

/* The fault thread's loop (fault.c, spin.c): idle periods that ended in
 * work while spinning (hits) or ran out (misses), time spent spinning,
 * sleeps, completions it ran itself. */
static struct json_object *fault_thread_json(struct swapper *s)
{
	struct json_object *o = json_object_new_object();

	J_U64(o, "spin_hits", atomic_load(&s->spin_hits));
	J_U64(o, "spin_misses", atomic_load(&s->spin_misses));
	J_U64(o, "spin_ns", atomic_load(&s->spin_ns));
	J_U64(o, "sleeps", atomic_load(&s->sleeps));
	J_U64(o, "completions_reaped", atomic_load(&s->reaped));
	json_object_object_add(o, "engine_polled", json_object_new_boolean(s->io->polled));
	return o;
}

struct json_object *swapper_stats_json(struct swapper *s)
{
	struct json_object *o = counters_json(s);
	struct json_object *devs = json_object_new_array();
	struct json_object *feat = json_object_new_object();
	uint64_t used = 0;
	unsigned int i;

	lock_read(&s->dev_lock);
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
	unlock_rw(&s->dev_lock);
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
	J_U64(o, "write_busy_ns", wb_busy_ns(s));
	json_object_object_add(o, "swapin_parts", parts_json(s));
	json_object_object_add(o, "fault_thread", fault_thread_json(s));
	json_object_object_add(feat, "uffd_move", json_object_new_boolean(s->use_move));
	json_object_object_add(feat, "uffd_wp", json_object_new_boolean(s->use_wp));
	/* memfd guest memory: "memfd" (or "mixed" beside anonymous regions);
	 * its pages are dropped by hole punch and kept clean with uffd-wp on
	 * shmem, which the swapper requires for it. */
	json_object_object_add(feat, "memory_backing", json_object_new_string(
				       s->thp ? "thp" : s->pshift > 12 ? "hugetlb" : !s->nr_memfd ? "anon" :
				       s->nr_memfd == s->nr_regions ? "memfd" : "mixed"));
	/* The unit of every count in pages (page_states, resident, faults,
	 * slots): 4096, or 2097152 with hugetlb or thp memory (one 2 MiB unit each,
	 * so bytes_read / read_ios is the read size). */
	J_U64(feat, "unit_bytes", s->psz);
	json_object_object_add(feat, "uffd_wp_shmem",
			       json_object_new_boolean(s->caps.wp_shmem));
	json_object_object_add(feat, "zero_copy_swapin",
			       json_object_new_boolean(s->nr_zero_copy > 0));
	json_object_object_add(feat, "io_engine", json_object_new_string(s->io->ops->name));
	json_object_object_add(feat, "policy", json_object_new_string(s->pol->name));
	json_object_object_add(feat, "integrity", json_object_new_string(
				       s->seal ? seal_name(s->seal) : "none"));
	json_object_object_add(o, "features", feat);
	if (s->pol->stats)      /* the policy's own figures ("arcw") */
		s->pol->stats(s->pol_state, o);
	lock_mutex(&s->pin_lock, LK_LEAF);
	J_U64(o, "pinned_pages", s->pin_pages);
	J_U64(o, "longterm_pinned_pages", s->pin_longterm_pages);
	J_U64(o, "longterm_pin_limit_pages", s->pin_longterm_max);
	unlock_mutex(&s->pin_lock, LK_LEAF);
	json_object_object_add(o, "page_states", census_json(s));
	if (s->zt)
		json_object_object_add(o, "ztier", ztier_stats_json(s));
	return o;
}

/* Faults of every kind (a rate for the live line). */
static uint64_t faults_all(struct swapper_counters *c)
{
	return atomic_load(&c->faults_zero) + atomic_load(&c->faults_swap) +
	       atomic_load(&c->faults_staging) + atomic_load(&c->faults_wp);
}

void swapper_status_live(struct swapper *s, char *buf, size_t len)
{
	struct swapper_counters *c = &s->c;
	uint64_t now = io_now_ns(), f = faults_all(c);
	uint64_t rd = atomic_load(&c->bytes_read), wr = atomic_load(&c->bytes_written);
	uint64_t swapped = 0;
	double dt = s->live.t ? (double)(now - s->live.t) / 1e9 : 0;
	unsigned int i;

	lock_read(&s->dev_lock);
	for (i = 0; i < SWAPPER_MAX_DEVS; i++) {
		struct swap_dev_usage u;

		if (!s->devs[i])
			continue;
		swap_dev_usage(s->devs[i], &u);
		swapped += u.used;
	}
	unlock_rw(&s->dev_lock);
	snprintf(buf, len, "resident %llu/%llu MiB  swapped %llu MiB  "
		 "faults %.0f/s  in %.1f MB/s  out %.1f MB/s",
		 (unsigned long long)(atomic_load(&c->resident) * s->psz >> 20),
		 (unsigned long long)(atomic_load(&s->limit_pages) * s->psz >> 20),
		 (unsigned long long)(swapped * s->psz >> 20),
		 dt > 0 ? (double)(f - s->live.faults) / dt : 0.0,
		 dt > 0 ? (double)(rd - s->live.rd) / dt / 1e6 : 0.0,
		 dt > 0 ? (double)(wr - s->live.wr) / dt / 1e6 : 0.0);
	s->live.t = now;
	s->live.faults = f;
	s->live.rd = rd;
	s->live.wr = wr;
}

void swapper_status_line(struct swapper *s, char *buf, size_t len)
{
	struct swapper_counters *c = &s->c;

	snprintf(buf, len,
		 "swap: resident %llu/%llu %s (max %llu), staged %llu, "
		 "in %llu (zero %llu, staging %llu), out %llu written + %llu clean + "
		 "%llu zero, fault p50 %llu us p99 %llu us",
		 (unsigned long long)atomic_load(&c->resident),
		 (unsigned long long)atomic_load(&s->limit_pages),
		 s->pshift > 12 ? "2M units" : "pages",
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
