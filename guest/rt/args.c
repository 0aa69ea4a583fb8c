/*
 * args.c - the guest's "key=value key=value" argument string.
 *
 * Owns args_raw (as fetched) and args_tok (a copy split into NUL-terminated
 * tokens, indexed by args_v).  Written once by vCPU 0 in hv_rt_args_init()
 * before the start barrier; read-only afterwards, so lookups need no lock.
 */
#include "rt.h"

#define MAX_TOKENS 256

void hv_rt_args_init(void);

static char args_raw[HV_ARGS_MAX];
static char args_tok[HV_ARGS_MAX];
static const char *args_v[MAX_TOKENS];
static unsigned args_c;

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void hv_rt_args_init(void)
{
	int64_t ret;
	char *p;

	ret = hv_hypercall(HV_HC_GET_ARGS, (uintptr_t)args_raw, sizeof(args_raw),
			   0, 0, 0);
	if (ret < 0)
		args_raw[0] = '\0';
	else if (ret >= (int64_t)sizeof(args_raw))
		hv_printf("rt: argument string truncated to %u bytes\n",
			  (unsigned)sizeof(args_raw) - 1);
	args_raw[sizeof(args_raw) - 1] = '\0';
	memcpy(args_tok, args_raw, sizeof(args_tok));
	for (p = args_tok; *p; ) {
		while (is_blank(*p))
			*p++ = '\0';
		if (!*p)
			break;
		if (args_c < MAX_TOKENS)
			args_v[args_c++] = p;
		while (*p && !is_blank(*p))
			p++;
	}
}

const char *hv_args(void)
{
	return args_raw;
}

/* Length of the key part of a token ("key=value" or bare "key"). */
static size_t key_len(const char *tok)
{
	size_t n = 0;

	while (tok[n] && tok[n] != '=')
		n++;
	return n;
}

static const char *lookup(const char *key)
{
	size_t kl = hv_strlen(key);
	const char *found = NULL;
	unsigned i;

	for (i = 0; i < args_c; i++) {
		const char *t = args_v[i];

		if (key_len(t) == kl && !hv_strncmp(t, key, kl))
			found = t[kl] ? t + kl + 1 : "1";
	}
	return found;
}

bool hv_arg_present(const char *key)
{
	return lookup(key) != NULL;
}

const char *hv_arg_str(const char *key, const char *def)
{
	const char *v = lookup(key);

	return v ? v : def;
}

static __attribute__((noreturn)) void bad_value(const char *key,
						const char *v, const char *what)
{
	hv_printf("args: bad value for %s: '%s' (%s)\n", key, v, what);
	hv_exit(2);
}

static unsigned suffix_shift(const char **pp)
{
	const char *p = *pp;
	unsigned sh;

	switch (*p) {
	case 'k': case 'K': sh = 10; break;
	case 'm': case 'M': sh = 20; break;
	case 'g': case 'G': sh = 30; break;
	case 't': case 'T': sh = 40; break;
	default: return 0;
	}
	p++;
	if (*p == 'i' && (p[1] == 'B' || p[1] == 'b'))
		p += 2;
	else if (*p == 'B' || *p == 'b')
		p++;
	*pp = p;
	return sh;
}

static int digit_val(char c, unsigned base)
{
	int d;

	if (c >= '0' && c <= '9')
		d = c - '0';
	else if (c >= 'a' && c <= 'f')
		d = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		d = c - 'A' + 10;
	else
		return -1;
	return d < (int)base ? d : -1;
}

uint64_t hv_arg_u64(const char *key, uint64_t def)
{
	const char *v = lookup(key), *p;
	unsigned base = 10, sh;
	uint64_t x = 0;
	int d;

	if (!v)
		return def;
	p = v;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (digit_val(*p, base) < 0)
		bad_value(key, v, "not a number");
	for (; (d = digit_val(*p, base)) >= 0; p++) {
		if (x > (UINT64_MAX - (uint64_t)d) / base)
			bad_value(key, v, "too large");
		x = x * base + (uint64_t)d;
	}
	sh = suffix_shift(&p);
	if (*p)
		bad_value(key, v, "trailing characters");
	if (sh && x > (UINT64_MAX >> sh))
		bad_value(key, v, "too large");
	return x << sh;
}

/* 10^k for 0 <= k <= 308; exact for k <= 22. */
static double pow10i(int k)
{
	double r = 1.0, b = 10.0;

	for (; k; k >>= 1, b *= b)
		if (k & 1)
			r *= b;
	return r;
}

/*
 * [+-]digits[.digits][e[+-]digits].  Up to 19 significant digits are kept
 * exactly; with at most 22 decimals the result is m / 10^k, correctly
 * rounded, so short inputs like "0.99" give the same double as strtod().
 */
double hv_arg_double(const char *key, double def)
{
	const char *v = lookup(key), *p;
	uint64_t m = 0;
	int exp10 = 0, e = 0, esign = 1, ndig = 0;
	bool neg = false;
	double r;

	if (!v)
		return def;
	p = v;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	for (; *p >= '0' && *p <= '9'; p++, ndig++) {
		if (m < 1000000000000000000ull)
			m = m * 10 + (uint64_t)(*p - '0');
		else
			exp10++;
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, ndig++) {
			if (m < 1000000000000000000ull) {
				m = m * 10 + (uint64_t)(*p - '0');
				exp10--;
			}
		}
	}
	if (!ndig)
		bad_value(key, v, "not a number");
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			esign = *p++ == '-' ? -1 : 1;
		if (*p < '0' || *p > '9')
			bad_value(key, v, "bad exponent");
		for (; *p >= '0' && *p <= '9'; p++)
			if (e < 10000)
				e = e * 10 + (*p - '0');
	}
	if (*p)
		bad_value(key, v, "trailing characters");
	exp10 += esign * e;
	if (exp10 < -308 || exp10 > 308)
		bad_value(key, v, "out of range");
	r = exp10 < 0 ? (double)m / pow10i(-exp10) : (double)m * pow10i(exp10);
	return neg ? -r : r;
}

int hv_args_check(const char *const *known)
{
	int ret = 0;
	unsigned i;

	for (i = 0; i < args_c; i++) {
		const char *t = args_v[i];
		size_t kl = key_len(t);
		const char *const *k;

		for (k = known; *k; k++)
			if (hv_strlen(*k) == kl && !hv_strncmp(*k, t, kl))
				break;
		if (!*k) {
			hv_printf("args: unknown argument '%s'\n", t);
			ret = -HV_EINVAL;
		}
	}
	return ret;
}
