/*
 * ratelimit.h - printk_ratelimit for guest-triggered warnings: at most
 * `burst` messages per `interval_ns`; the rest are counted and the count is
 * reported with the next message that gets through.  A guest can trigger
 * warnings at will, so every warning it can cause goes through one of these;
 * so does every warning a failing device can repeat (the swapper's I/O).
 * Public because the VMM and the swapper library both use it.
 *
 * Not thread-safe: each instance is protected by its owner's lock.
 */
#ifndef HVSWAP_RATELIMIT_H
#define HVSWAP_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct ratelimit {
	uint64_t interval_ns;
	unsigned int burst;
	uint64_t start_ns;      /* current window */
	unsigned int printed;   /* in the current window */
	uint64_t suppressed;    /* since the last message that got through */
	uint64_t total;         /* every event, printed or not */
};

#define RATELIMIT_INIT(ms, n) { (uint64_t)(ms) * 1000000ull, (n), 0, 0, 0, 0 }

/* Returns true when this event may be printed; *suppressed is the number
 * dropped since the previous printed one (to mention it). */
static inline bool ratelimit_ok(struct ratelimit *rl, uint64_t *suppressed)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	rl->total++;
	if (!rl->start_ns || now - rl->start_ns >= rl->interval_ns) {
		rl->start_ns = now;
		rl->printed = 0;
	}
	if (rl->printed >= rl->burst) {
		rl->suppressed++;
		return false;
	}
	rl->printed++;
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}

#endif
