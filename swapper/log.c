/*
 * log.c - level-gated logging to stderr.
 *
 * The level is the one process-wide setting hvswap keeps outside its objects:
 * it is set once by main() before threads start and only read afterwards
 * (an atomic, so late changes are still race-free).
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "hvswap/log.h"

static _Atomic int log_level = HV_LOG_WARN;

void hv_log_set_level(enum hv_log_level lvl)
{
	atomic_store(&log_level, (int)lvl);
}

bool hv_log_enabled(enum hv_log_level lvl)
{
	return (int)lvl <= atomic_load(&log_level);
}

void hv_log(enum hv_log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char buf[1024];
	va_list ap;
	int n;

	if ((int)lvl > atomic_load(&log_level))
		return;
	n = snprintf(buf, sizeof(buf), "hvswap: %s: ", names[lvl]);
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One fputs per message so lines from threads do not interleave. */
	fprintf(stderr, "%s\n", buf);
}
