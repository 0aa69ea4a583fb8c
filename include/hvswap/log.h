/*
 * log.h - small level-gated logging.  Human-readable detail belongs at the
 * boundaries (CLI, config, API); hot paths use counters and histograms.
 */
#ifndef HVSWAP_LOG_H
#define HVSWAP_LOG_H

#include <stdbool.h>

enum hv_log_level { HV_LOG_ERR = 0, HV_LOG_WARN, HV_LOG_INFO, HV_LOG_DEBUG };

void hv_log_set_level(enum hv_log_level lvl);
/* Would a message at lvl be printed?  (Skip work for messages that would not.) */
bool hv_log_enabled(enum hv_log_level lvl);
void hv_log(enum hv_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)   hv_log(HV_LOG_ERR, __VA_ARGS__)
#define log_warn(...)  hv_log(HV_LOG_WARN, __VA_ARGS__)
#define log_info(...)  hv_log(HV_LOG_INFO, __VA_ARGS__)
#define log_debug(...) hv_log(HV_LOG_DEBUG, __VA_ARGS__)

#endif
