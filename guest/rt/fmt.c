/*
 * fmt.c - a small vsnprintf for guests (conversions listed in rt.h).
 * No state; hv_printf formats into a stack buffer and makes one PRINT
 * hypercall, so concurrent vCPUs' lines do not interleave mid-line.
 */
#include "rt.h"

#define PRINTF_BUF 1024

struct out {
	char *buf;
	size_t size;
	size_t len;        /* would-be length, may exceed size */
};

struct spec {
	bool left, zero, plus, space;
	int width;
	int prec;          /* -1 = unspecified */
	int lmod;          /* 0 int, 1 long, 2 long long, -1 short, -2 char */
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void pad(struct out *o, char c, int n)
{
	while (n-- > 0)
		put(o, c);
}

/* Emit prefix (sign / 0x) and body with width, flags and zero padding. */
static void emit(struct out *o, const struct spec *sp, const char *prefix,
		 const char *body, size_t blen, size_t zeros)
{
	size_t plen = hv_strlen(prefix);
	int fill = sp->width - (int)(plen + zeros + blen);

	if (!sp->left && !sp->zero)
		pad(o, ' ', fill);
	while (*prefix)
		put(o, *prefix++);
	if (!sp->left && sp->zero)
		pad(o, '0', fill);
	pad(o, '0', (int)zeros);
	while (blen--)
		put(o, *body++);
	if (sp->left)
		pad(o, ' ', fill);
}

static size_t utoa_rev(char *tmp, uint64_t v, unsigned base, bool upper)
{
	const char *dig = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	size_t n = 0;

	do {
		tmp[n++] = dig[v % base];
		v /= base;
	} while (v);
	return n;
}

static void fmt_int(struct out *o, struct spec sp, uint64_t v, bool neg,
		    unsigned base, bool upper, const char *prefix)
{
	char tmp[24], body[24];
	size_t n = 0, i, zeros = 0;
	const char *pre = prefix;

	if (neg)
		pre = "-";
	else if (sp.plus && base == 10 && !*prefix)
		pre = "+";
	else if (sp.space && base == 10 && !*prefix)
		pre = " ";
	if (!(sp.prec == 0 && v == 0))
		n = utoa_rev(tmp, v, base, upper);
	for (i = 0; i < n; i++)
		body[i] = tmp[n - 1 - i];
	if (sp.prec >= 0) {
		sp.zero = false;
		if ((size_t)sp.prec > n)
			zeros = (size_t)sp.prec - n;
	}
	emit(o, &sp, pre, body, n, zeros);
}

static void fmt_str(struct out *o, struct spec sp, const char *s)
{
	size_t n = 0;

	if (!s)
		s = "(null)";
	while (s[n] && (sp.prec < 0 || n < (size_t)sp.prec))
		n++;
	sp.zero = false;
	emit(o, &sp, "", s, n, 0);
}

static uint64_t pow10u(unsigned k)
{
	uint64_t r = 1;

	while (k--)
		r *= 10;
	return r;
}

int hv_fmt_double(char *buf, size_t size, double v, unsigned prec)
{
	struct out o = { buf, size, 0 };
	char tmp[24];
	uint64_t ip, fp, scale;
	size_t n;
	double x;

	if (prec > 17)
		prec = 17;
	scale = pow10u(prec);
	if (v != v) {
		fmt_str(&o, (struct spec){ .prec = -1 }, "nan");
		goto done;
	}
	if (v < 0) {
		put(&o, '-');
		v = -v;
	}
	if (v > 1.8e19) {
		fmt_str(&o, (struct spec){ .prec = -1 }, v > 1.7976931348623157e308 ? "inf" : "big");
		goto done;
	}
	x = v * (double)scale + 0.5;
	if (x < 1.8e19) {          /* exact integer rounding of v * 10^prec */
		uint64_t s = (uint64_t)x;

		ip = s / scale;
		fp = s % scale;
	} else {                   /* huge: the fraction is below precision */
		ip = (uint64_t)v;
		fp = 0;
	}
	n = utoa_rev(tmp, ip, 10, false);
	while (n)
		put(&o, tmp[--n]);
	if (prec) {
		put(&o, '.');
		n = utoa_rev(tmp, fp, 10, false);
		pad(&o, '0', (int)(prec - n));
		while (n)
			put(&o, tmp[--n]);
	}
done:
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

static void fmt_double(struct out *o, struct spec sp, double v)
{
	char body[48];
	const char *pre = "";
	const char *b = body;
	int n;

	n = hv_fmt_double(body, sizeof(body), v, sp.prec < 0 ? 6 : (unsigned)sp.prec);
	if (n >= (int)sizeof(body))
		n = sizeof(body) - 1;
	if (body[0] == '-') {
		pre = "-";
		b++;
		n--;
	} else if (sp.plus) {
		pre = "+";
	} else if (sp.space) {
		pre = " ";
	}
	emit(o, &sp, pre, b, (size_t)n, 0);
}

static int parse_num(const char **pp, va_list *ap)
{
	const char *p = *pp;
	int n = 0;

	if (*p == '*') {
		*pp = p + 1;
		return va_arg(*ap, int);
	}
	while (*p >= '0' && *p <= '9')
		n = n * 10 + (*p++ - '0');
	*pp = p;
	return n;
}

static const char *parse_spec(const char *p, struct spec *sp, va_list *ap)
{
	*sp = (struct spec){ .prec = -1 };
	for (;; p++) {
		if (*p == '-') sp->left = true;
		else if (*p == '0') sp->zero = true;
		else if (*p == '+') sp->plus = true;
		else if (*p == ' ') sp->space = true;
		else break;
	}
	sp->width = parse_num(&p, ap);
	if (sp->width < 0) {
		sp->left = true;
		sp->width = -sp->width;
	}
	if (*p == '.') {
		p++;
		sp->prec = parse_num(&p, ap);
	}
	for (;; p++) {
		if (*p == 'l') sp->lmod = sp->lmod ? 2 : 1;
		else if (*p == 'h') sp->lmod = sp->lmod ? -2 : -1;
		else if (*p == 'z' || *p == 'j' || *p == 't') sp->lmod = 2;
		else break;
	}
	return p;
}

static int64_t arg_signed(const struct spec *sp, va_list *ap)
{
	switch (sp->lmod) {
	case 2: return va_arg(*ap, long long);
	case 1: return va_arg(*ap, long);
	case -1: return (short)va_arg(*ap, int);
	case -2: return (signed char)va_arg(*ap, int);
	default: return va_arg(*ap, int);
	}
}

static uint64_t arg_unsigned(const struct spec *sp, va_list *ap)
{
	switch (sp->lmod) {
	case 2: return va_arg(*ap, unsigned long long);
	case 1: return va_arg(*ap, unsigned long);
	case -1: return (unsigned short)va_arg(*ap, unsigned);
	case -2: return (unsigned char)va_arg(*ap, unsigned);
	default: return va_arg(*ap, unsigned);
	}
}

static void convert(struct out *o, char c, struct spec *sp, va_list *ap)
{
	int64_t sv;
	char ch;

	switch (c) {
	case 'd': case 'i':
		sv = arg_signed(sp, ap);
		fmt_int(o, *sp, sv < 0 ? 0 - (uint64_t)sv : (uint64_t)sv,
			sv < 0, 10, false, "");
		break;
	case 'u':
		fmt_int(o, *sp, arg_unsigned(sp, ap), false, 10, false, "");
		break;
	case 'x': case 'X':
		fmt_int(o, *sp, arg_unsigned(sp, ap), false, 16, c == 'X', "");
		break;
	case 'o':
		fmt_int(o, *sp, arg_unsigned(sp, ap), false, 8, false, "");
		break;
	case 'p':
		fmt_int(o, *sp, (uintptr_t)va_arg(*ap, void *), false, 16, false, "0x");
		break;
	case 'c':
		ch = (char)va_arg(*ap, int);
		sp->prec = -1;
		emit(o, sp, "", &ch, 1, 0);
		break;
	case 's':
		fmt_str(o, *sp, va_arg(*ap, const char *));
		break;
	case 'f': case 'F':
		fmt_double(o, *sp, va_arg(*ap, double));
		break;
	case '%':
		put(o, '%');
		break;
	default:                   /* unknown: print it verbatim */
		put(o, '%');
		if (c)
			put(o, c);
		break;
	}
}

int hv_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };
	struct spec sp;
	va_list aq;

	va_copy(aq, ap);
	while (*fmt) {
		if (*fmt != '%') {
			put(&o, *fmt++);
			continue;
		}
		fmt = parse_spec(fmt + 1, &sp, &aq);
		convert(&o, *fmt, &sp, &aq);
		if (*fmt)
			fmt++;
	}
	va_end(aq);
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int hv_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = hv_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int hv_printf(const char *fmt, ...)
{
	char buf[PRINTF_BUF];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = hv_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	hv_write(buf, hv_min((size_t)n, sizeof(buf) - 1));
	return n;
}
